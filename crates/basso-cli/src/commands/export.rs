//! `basso export kubernetes`: print a resolved stage as a Kubernetes Job.

use std::path::PathBuf;

use basso_core::Diagnostic;
use basso_core::pipeline::yaml::{self, Limits};
use basso_kube::names::{is_dns1123_label, is_dns1123_subdomain};
use basso_kube::{ExportOptions, Manifest, stage_from_resolved};
use clap::{Args, Subcommand, ValueEnum};

use crate::render;
use crate::resolution_args::{ResolutionArgs, read_file};
use crate::{exit, output};

#[derive(Args)]
pub struct ExportArgs {
    #[command(subcommand)]
    pub target: Target,
}

#[derive(Subcommand)]
pub enum Target {
    /// Print one stage as a batch/v1 Job whose pod runs its steps, with
    /// Background steps as native sidecars (Kubernetes 1.29 or later)
    Kubernetes(KubernetesArgs),
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}

#[derive(Args)]
pub struct KubernetesArgs {
    /// The pipeline file
    pub file: PathBuf,
    /// Identifier of the stage to export; required when the pipeline has
    /// more than one stage
    #[arg(long)]
    pub stage: Option<String>,
    /// A runtime input as `NAME=VALUE`, such as `pipeline.variables.tag=1.2`
    #[arg(long = "input", value_name = "NAME=VALUE")]
    pub inputs: Vec<String>,
    /// An input set file; later files override earlier ones
    #[arg(long = "inputs", value_name = "FILE")]
    pub input_files: Vec<PathBuf>,
    /// A JSON file with values for expressions (`{"pipeline": {...}}`)
    #[arg(long, value_name = "FILE")]
    pub context: Option<PathBuf>,
    /// Namespace of every object; defaults to the stage's KubernetesDirect
    /// namespace, else none
    #[arg(long)]
    pub namespace: Option<String>,
    /// Name of the Secret that contains the pipeline's secrets; defaults to
    /// `<pipeline>-secrets`
    #[arg(long)]
    pub secret_name: Option<String>,
    /// Also print that Secret with every key it must hold, each empty
    #[arg(long)]
    pub with_secret_template: bool,
    /// `yaml` prints YAML documents; `json` prints one `v1` `List`
    #[arg(long, value_enum, default_value = "yaml")]
    pub format: Format,
}

pub fn run(args: ExportArgs) -> u8 {
    match args.target {
        Target::Kubernetes(args) => kubernetes(args),
    }
}

fn kubernetes(args: KubernetesArgs) -> u8 {
    if let Some(problem) = option_problem(&args) {
        err_println!("error: {problem}");
        return exit::USAGE;
    }
    let name = args.file.display().to_string();
    let read = read_file(&args.file).and_then(|source| {
        let values =
            ResolutionArgs::read(&args.inputs, &args.input_files, args.context.as_deref())?;
        Ok((source, values))
    });
    let (source, values) = match read {
        Ok(read) => read,
        Err(message) => {
            err_println!("error: {message}");
            return exit::USAGE;
        }
    };
    let resolution = basso_core::pipeline::resolve(
        &source,
        &name,
        &values.arguments,
        &values.input_sets,
        &values.context,
    );
    if resolution.has_errors() {
        report(&resolution.diagnostics, &name, &source);
        // A wrong `--stage` is worth knowing before the errors are fixed.
        if args.stage.is_some()
            && !resolution.stages.is_empty()
            && let Err(message) = pick_stage(&resolution.stages, args.stage.as_deref())
        {
            err_println!("error: {message}");
        }
        return exit::FAILURE;
    }

    let stage = match pick_stage(&resolution.stages, args.stage.as_deref()) {
        Ok(stage) => stage,
        Err(message) => {
            report(&resolution.diagnostics, &name, &source);
            err_println!("error: {message}");
            return exit::USAGE;
        }
    };
    let root = yaml::load(&source, Limits::default()).ok().flatten();
    let pipeline_id = resolution.pipeline.as_deref().unwrap_or("pipeline");
    let stage = stage_from_resolved(
        pipeline_id,
        stage,
        root.as_ref().map(|root| (root, name.as_str())),
    );
    let options = ExportOptions {
        namespace: args.namespace.clone(),
        secret_name: args.secret_name.clone(),
        with_secret_template: args.with_secret_template,
    };
    let export = basso_kube::export_stage(&stage, &options);

    let mut diagnostics = without_superseded(&resolution.diagnostics, &export.diagnostics);
    diagnostics.extend(
        export
            .diagnostics
            .iter()
            .filter(|warning| !repeats(warning, &resolution.diagnostics, &source))
            .cloned(),
    );
    report(&diagnostics, &name, &source);
    let Some(manifest) = export.manifest else {
        return exit::FAILURE;
    };
    print_manifest(&manifest, args.format)
}

/// Returns true when `warning` of the export repeats one of the
/// `resolution` diagnostics: the same code at the same span, or at the
/// value of the key that diagnostic points at. `invalid-shared-path` has
/// the same span in both for a fixed path. `entrypoint-overrides-command`
/// points at the `command` key in `check` and at its value in the export.
fn repeats(warning: &Diagnostic, resolution: &[Diagnostic], source: &str) -> bool {
    !warning.is_error()
        && resolution.iter().any(|known| {
            same_place(known, warning)
                || (known.code == warning.code && value_of_key(source, known, warning))
        })
}

/// Returns true when only a colon and blanks (a block scalar's indicator
/// and a comment on the key's line included) lie between the end of
/// `key`'s span and the start of `value`'s in `source`.
fn value_of_key(source: &str, key: &Diagnostic, value: &Diagnostic) -> bool {
    let between = source.get(key.span.byte_end..value.span.byte_start);
    between.is_some_and(|text| {
        let text = text.trim_start();
        let Some(rest) = text.strip_prefix(':') else {
            return false;
        };
        let rest = rest
            .trim_start_matches([' ', '\t', '|', '>', '-', '+'])
            .trim_start_matches(|c: char| c.is_ascii_digit());
        // A comment may end the key's line.
        let rest = match rest.trim_start().strip_prefix('#') {
            Some(comment) => comment.split_once('\n').map_or("", |(_, after)| after),
            None => rest,
        };
        rest.trim().is_empty()
    })
}

/// Returns true when `a` and `b` have one code and one span.
fn same_place(a: &Diagnostic, b: &Diagnostic) -> bool {
    a.code == b.code && (a.span.byte_start, a.span.byte_end) == (b.span.byte_start, b.span.byte_end)
}

/// Drops each resolution warning that an export error repeats at the same
/// span with the same code, such as `invalid-env-name` for a name that a
/// shell cannot read and the API server rejects.
fn without_superseded(resolution: &[Diagnostic], export: &[Diagnostic]) -> Vec<Diagnostic> {
    let superseded = |warning: &Diagnostic| {
        !warning.is_error()
            && export
                .iter()
                .any(|error| error.is_error() && same_place(error, warning))
    };
    resolution
        .iter()
        .filter(|warning| !superseded(warning))
        .cloned()
        .collect()
}

/// Rejects option values Kubernetes would reject, before any work.
fn option_problem(args: &KubernetesArgs) -> Option<String> {
    if let Some(namespace) = &args.namespace
        && !is_dns1123_label(namespace)
    {
        return Some(format!(
            "invalid `--namespace` `{namespace}`: use lower-case letters, digits and `-`, at most 63 characters"
        ));
    }
    if let Some(secret) = &args.secret_name
        && !is_dns1123_subdomain(secret)
    {
        return Some(format!(
            "invalid `--secret-name` `{secret}`: use lower-case letters, digits, `-` and `.`, such as `ci-secrets`"
        ));
    }
    None
}

fn pick_stage<'a>(
    stages: &'a [basso_core::pipeline::ResolvedStage],
    requested: Option<&str>,
) -> Result<&'a basso_core::pipeline::ResolvedStage, String> {
    let identifiers = || {
        stages
            .iter()
            .map(|s| format!("`{}`", s.identifier))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (requested, stages) {
        (Some(id), _) => stages
            .iter()
            .find(|s| s.identifier == id)
            .ok_or_else(|| format!("stage `{id}` not found; the pipeline has {}", identifiers())),
        (None, [only]) => Ok(only),
        (None, []) => Err("the pipeline has no stage to export".to_string()),
        (None, _) => Err(format!(
            "the pipeline has several stages: pick one with `--stage`, one of {}",
            identifiers()
        )),
    }
}

/// Prints diagnostics to stderr with their source excerpts and a count.
fn report(diagnostics: &[Diagnostic], name: &str, source: &str) {
    if diagnostics.is_empty() {
        return;
    }
    err_print!("{}", render::render_text(diagnostics, name, source));
    err_println!("{}", render::summary(diagnostics));
}

fn print_manifest(manifest: &Manifest, format: Format) -> u8 {
    let printed = match format {
        Format::Yaml => basso_kube::to_yaml(manifest).map_err(|e| e.to_string()),
        Format::Json => basso_kube::to_json(manifest)
            .and_then(|value| serde_json::to_string_pretty(&value))
            .map_err(|e| e.to_string()),
    };
    match printed {
        Ok(text) => {
            output::print(&format!("{}\n", text.trim_end()));
            if !manifest.secret_keys.is_empty() {
                err_println!(
                    "note: Secret `{}` must hold the keys: {}",
                    manifest.secret_name,
                    manifest.secret_keys.join(", ")
                );
            }
            exit::SUCCESS
        }
        Err(error) => {
            err_println!("error: cannot print the manifest: {error}");
            exit::FAILURE
        }
    }
}
