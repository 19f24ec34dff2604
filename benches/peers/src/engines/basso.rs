//! basso's own engine: `Template::parse` once, then `render` or `evaluate`
//! as the `op` field of the case selects, with the default options (Harness scanning,
//! unresolved paths as null).

use basso_core::{EvalMode, Options, ScanMode, Template, Value};

use crate::run::Engine;
use crate::workload::{Case, Workload};

pub fn engine(workload: &Workload) -> Result<Engine<(Template, Options), Value>, String> {
    let context: &'static Value = Box::leak(Box::new(Value::from_json(workload.context.clone())));

    Ok(Engine {
        name: "basso",
        compile: Box::new(|case, source| {
            let template = Template::parse(source, ScanMode::Harness).map_err(|error| error.to_string())?;
            Ok((template, options(case)))
        }),
        evaluate: Box::new(move |(template, options)| {
            template.run(context, options).map_err(|error| error.to_string())
        }),
        text,
    })
}

fn options(case: &Case) -> Options {
    let mode = if case.op == "render" {
        EvalMode::Render
    } else {
        EvalMode::Evaluate
    };
    Options {
        mode,
        ..Options::default()
    }
}

fn text(value: &Value) -> String {
    value.render()
}
