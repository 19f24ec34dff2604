//! The host executor: runs blank-image steps as processes on this machine,
//! as Harness does on VM build infrastructure.
//!
//! Each task runs in its own process group so that stopping a step also
//! stops what its script started. A process that leaves the group with
//! `setsid` is found by walking the task's process tree every 100 ms and
//! when the task stops, and it is stopped with the group. Two mechanisms
//! make sure no process in the group outlives basso, even when basso is
//! killed with SIGKILL:
//! - every task's main process gets `PR_SET_PDEATHSIG` (SIGKILL);
//! - a watchdog process (`sh`) reads the list of live process groups from
//!   a pipe. When the pipe closes because basso died, it sends SIGTERM and
//!   then SIGKILL to every group still listed.
//!
//! A step that sets `runAsUser` runs with that user id and the user's
//! primary group. Its script and output folders belong to it, with mode
//! 0700, so it can read its script and write its output variables while
//! other users cannot read the secrets a script may contain. The user must
//! be able to enter the working directory. The workspace `basso run`
//! creates is shared for such runs (see [`crate::folders`]), but a
//! `--workspace` or `--codebase` folder keeps its own permissions. Before
//! the process starts, the executor checks that the user can enter the
//! working directory and the script folder. When it cannot, the step fails
//! with an error that names the folder.

use std::collections::BTreeMap;
use std::io::{PipeReader, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::access::{self, Denied, StepUser};
use crate::executor::{
    ExecError, Executor, Exit, LogSink, Problem, Program, Shell, StartDeadline, StopDeadline, Task,
    TaskSpec,
};
use crate::lines::forward_lines;

/// How long a step's leftover processes get between SIGTERM and SIGKILL once
/// the step's main process has exited.
const LEFTOVER_GRACE: Duration = Duration::from_millis(500);

/// The environment variable that marks every process of a host task: its
/// value is the task's scratch folder, which no other task shares. A
/// process inherits it through `fork` and `exec`, also after `setsid` and
/// after its parent exits, so the processes a step left behind are found
/// by it when the step ends.
pub const TASK_MARK_VARIABLE: &str = "BASSO_TASK";

/// How often a running task's process tree is walked to record processes
/// that left its process group.
const TREE_SCAN_INTERVAL: Duration = Duration::from_millis(100);

/// How long the output readers may lag behind a process exit before the
/// remaining output is dropped (a process that left the group may hold the
/// pipe open).
const READER_JOIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs steps as host processes. See the module documentation.
pub struct HostExecutor {
    scratch_dir: PathBuf,
    spawner: Mutex<mpsc::Sender<SpawnRequest>>,
    watchdog: Arc<Watchdog>,
    next_task: AtomicU64,
}

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

impl HostExecutor {
    /// Creates an executor that writes script files under `scratch_dir`
    /// (created if missing) and starts its watchdog process.
    pub fn new(scratch_dir: &Path) -> Result<HostExecutor, ExecError> {
        std::fs::create_dir_all(scratch_dir).map_err(|error| {
            ExecError(format!(
                "cannot create `{}`: {error}",
                scratch_dir.display()
            ))
        })?;
        // Other users may pass through to a step's own folder (a step that
        // runs as `runAsUser` must reach its script) but not list it.
        set_mode(scratch_dir, 0o711)?;

        Ok(HostExecutor {
            scratch_dir: scratch_dir.to_path_buf(),
            spawner: Mutex::new(start_spawner()),
            watchdog: Arc::new(Watchdog::start()?),
            next_task: AtomicU64::new(0),
        })
    }

    /// Returns the process id of the watchdog process.
    pub fn watchdog_pid(&self) -> u32 {
        self.watchdog.pid
    }

    /// Starts `command` on the spawner thread. The outer error means the
    /// thread has stopped, the inner one that the process did not start.
    fn spawn(&self, command: Command) -> Result<std::io::Result<Child>, ExecError> {
        let stopped = || ExecError("the process spawner thread has stopped".into());
        let (reply_sender, reply) = mpsc::channel();
        self.spawner
            .lock()
            .expect("spawner lock")
            .send((command, reply_sender))
            .map_err(|_| stopped())?;
        reply.recv().map_err(|_| stopped())
    }
}

/// Starts the thread that forks every task. `PR_SET_PDEATHSIG` fires when
/// the thread that forked the child ends, not the process, so all forks
/// happen on this one thread, which lives as long as the executor.
fn start_spawner() -> mpsc::Sender<SpawnRequest> {
    let (sender, requests) = mpsc::channel::<SpawnRequest>();
    std::thread::Builder::new()
        .name("basso-spawner".into())
        .spawn(move || {
            for (mut command, reply) in requests {
                let _ = reply.send(command.spawn());
            }
        })
        .expect("spawn the process spawner thread");
    sender
}

impl Executor for HostExecutor {
    fn name(&self) -> &'static str {
        "host"
    }

    fn runs_images(&self) -> bool {
        false
    }

    fn check(&self, spec: &TaskSpec) -> Vec<Problem> {
        let mut problems = Vec::new();
        let step = &spec.step_id;
        if let Some(image) = &spec.image {
            problems.push(Problem::at(
                "image",
                format!("step `{step}` names image `{image}`, which the host executor cannot run"),
            ));
        }

        let (program, setting) = match &spec.program {
            Program::Script { shell, .. } => (Some(shell.program().to_string()), "shell"),
            Program::Argv(argv) => (argv.first().cloned(), "entrypoint"),
        };
        match program {
            None => problems.push(Problem::at(
                "entrypoint",
                format!("step `{step}` has an empty `entrypoint`"),
            )),
            // A program from a secret or from a value known only at run time
            // is looked up when the step starts.
            Some(program) if program.contains("<+") => {}
            Some(program) if find_program(&program).is_none() => {
                problems.push(Problem::at(setting, program_not_found(spec, &program)));
            }
            Some(_) => {}
        }

        for &(host, container) in &spec.port_bindings {
            if host != container {
                problems.push(Problem::at(
                    "portBindings",
                    format!(
                        "step `{step}` binds host port {host} to container port {container}, \
                         but on the host a process listens where it listens; \
                         help: use the same port on both sides (`\"{container}\": \"{container}\"`)"
                    ),
                ));
            }
        }

        if spec.user.is_some() && !nix::unistd::geteuid().is_root() {
            problems.push(Problem::at(
                "runAsUser",
                format!("step `{step}` sets `runAsUser`, which needs basso to run as root"),
            ));
        }
        problems
    }

    /// Spawns the step's process. Spawning is quick, so `_deadline` is not
    /// checked.
    fn start(
        &self,
        spec: TaskSpec,
        logs: LogSink,
        _deadline: &StartDeadline,
    ) -> Result<Box<dyn Task>, ExecError> {
        let number = self.next_task.fetch_add(1, Ordering::Relaxed);
        let scratch = self.scratch_dir.join(format!("{}-{number}", spec.step_id));
        let output_dir = scratch.join("outputs");
        std::fs::create_dir_all(&output_dir).map_err(|error| {
            ExecError(format!("cannot create `{}`: {error}", output_dir.display()))
        })?;
        let (child, output) = match self.spawn_in(&spec, &scratch, &output_dir) {
            Ok(spawned) => spawned,
            Err(error) => {
                let _ = std::fs::remove_dir_all(&scratch);
                return Err(error);
            }
        };

        // The child is the leader of its own group, so its pid is the pgid.
        let pid = child.id();
        self.watchdog.register(pid);
        let readers = vec![spawn_reader(output, logs)];
        tracing::debug!(step_id = %spec.step_id, pid, kind = ?spec.kind, "started process");

        let mark = task_mark(&scratch);
        Ok(Box::new(HostTask {
            step_id: spec.step_id,
            child,
            pid,
            exit: None,
            readers,
            scratch,
            output_dir,
            output_variables: spec.output_variables,
            watchdog: self.watchdog.clone(),
            group_gone: false,
            escaped: Vec::new(),
            last_scan: Instant::now(),
            mark,
        }))
    }
}

impl HostExecutor {
    /// Prepares the step's folders and starts its process as the step's
    /// user. `scratch` and `output_dir` exist already.
    /// Starts the task's process and returns it with the read end of the
    /// pipe that is both its stdout and its stderr.
    fn spawn_in(
        &self,
        spec: &TaskSpec,
        scratch: &Path,
        output_dir: &Path,
    ) -> Result<(Child, PipeReader), ExecError> {
        let user = spec.user.map(StepUser::of);
        restrict_to_step_user(&[scratch, output_dir], user)?;
        if let Some(user) = user {
            check_step_user_access(spec, user, scratch)?;
        }

        let (command, output) = build_command(spec, user, scratch, output_dir)?;
        let program = command.get_program().to_string_lossy().into_owned();
        let child = self.spawn(command)?.map_err(|error| match user {
            Some(user) if error.kind() == std::io::ErrorKind::PermissionDenied => {
                ExecError(format!(
                    "step `{}` runs as user {}, which cannot start `{program}` in `{}`: {error}; \
                     help: check that the user can run `{program}` and enter that folder",
                    spec.step_id,
                    user.uid,
                    spec.workdir.display()
                ))
            }
            _ => ExecError(format!("`{program}`: {error}")),
        })?;
        Ok((child, output))
    }
}

/// Fails when `user` cannot enter the working directory or `scratch`, the
/// folder that contains the script, and warns when it cannot write the
/// working directory.
fn check_step_user_access(
    spec: &TaskSpec,
    user: StepUser,
    scratch: &Path,
) -> Result<(), ExecError> {
    let folders = [
        (spec.workdir.as_path(), "the working directory"),
        (scratch, "the step's script folder"),
    ];
    for (folder, role) in folders {
        if let Some(denied) = access::first_denied(folder, user, access::SEARCH) {
            return Err(ExecError(denied_message(
                &spec.step_id,
                user,
                &denied,
                folder,
                role,
            )));
        }
    }

    let read_write = access::READ | access::WRITE | access::SEARCH;
    if let Some(denied) = access::first_denied(&spec.workdir, user, read_write) {
        tracing::warn!(
            step_id = %spec.step_id,
            uid = user.uid,
            path = %denied.path.display(),
            "the step's user lacks `{}` permission on its working directory",
            denied.letters()
        );
    }
    Ok(())
}

/// Returns the error for a step whose `user` cannot enter `folder` (its
/// `role`, such as "the working directory") because of `denied`.
fn denied_message(
    step: &str,
    user: StepUser,
    denied: &Denied,
    folder: &Path,
    role: &str,
) -> String {
    let place = if denied.path == folder.canonicalize().unwrap_or_default() {
        role.to_string()
    } else {
        format!("a folder above {role} `{}`", folder.display())
    };
    format!(
        "step `{step}` runs as user {uid}, which cannot enter `{path}`, {place} \
         (owner {owner}, group {group}, mode {mode:04o}); \
         help: give the user access with `chmod o+{letters} {quoted}`, or remove `runAsUser`",
        uid = user.uid,
        path = denied.path.display(),
        quoted = shell_quote(&denied.path.display().to_string()),
        owner = denied.owner,
        group = denied.group,
        mode = denied.mode,
        letters = denied.letters(),
    )
}

/// Builds the command for a task: the interpreter and script file, or the
/// entrypoint, in a new process group with a parent-death signal, as
/// `user` when the step sets one. Returns it with the read end of one pipe
/// that is both its stdout and its stderr, so that the lines keep the order
/// in which the process wrote them, as on a terminal.
fn build_command(
    spec: &TaskSpec,
    user: Option<StepUser>,
    scratch: &Path,
    output_dir: &Path,
) -> Result<(Command, PipeReader), ExecError> {
    let mut command = match &spec.program {
        Program::Script { shell, script } => {
            let path = scratch.join(script_file_name(*shell));
            let text = wrap_script(*shell, script, &spec.output_variables, output_dir);
            std::fs::write(&path, text).map_err(|error| {
                ExecError(format!("cannot write `{}`: {error}", path.display()))
            })?;
            let mut command = program_command(spec, shell.program())?;
            if *shell == Shell::Pwsh {
                command.args(["-NoLogo", "-NonInteractive", "-NoProfile", "-File"]);
            }
            command.arg(path);
            command
        }
        Program::Argv(argv) => {
            let (program, args) = argv.split_first().ok_or_else(|| {
                ExecError(format!("step `{}` has an empty `entrypoint`", spec.step_id))
            })?;
            let mut command = program_command(spec, program)?;
            command.args(args);
            command
        }
    };

    // Secrets reach steps only through their own `envVariables`.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("BASSO_SECRET_") {
            command.env_remove(name);
        }
    }
    let pipe_error = |error| ExecError(format!("cannot create the output pipe: {error}"));
    let (output, stdout) = std::io::pipe().map_err(pipe_error)?;
    let stderr = stdout.try_clone().map_err(pipe_error)?;
    command
        .envs(spec.env.iter().map(|(name, value)| (name, value)))
        .env(TASK_MARK_VARIABLE, scratch)
        .current_dir(&spec.workdir)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0);
    if let Some(user) = user {
        command.uid(user.uid).gid(user.gid);
    }
    set_parent_death_signal(&mut command);
    Ok((command, output))
}

/// Returns a command that runs `program`, found on basso's own `PATH`
/// unless it contains a slash. `Command` would search the step's `PATH`
/// when `envVariables` sets one, but that `PATH` is meant for the commands
/// the script runs, and the preflight check looked on basso's.
fn program_command(spec: &TaskSpec, program: &str) -> Result<Command, ExecError> {
    if program.contains('/') {
        return Ok(Command::new(program));
    }
    let path = find_program(program).ok_or_else(|| ExecError(program_not_found(spec, program)))?;
    let mut command = Command::new(path);
    // argv[0] keeps the name as written, as after a `PATH` search, so `$0`
    // of `sh -c` and the name that `ps` shows stay the same.
    command.arg0(program);
    Ok(command)
}

/// Returns the error for a step whose `program` is not on basso's `PATH`,
/// with the folders searched.
fn program_not_found(spec: &TaskSpec, program: &str) -> String {
    // A program with a slash is a path, which no `PATH` search finds.
    if program.contains('/') {
        return format!(
            "step `{}` needs `{program}`, which is not a file on this host; \
             help: check the path, or install the program there",
            spec.step_id
        );
    }
    let searched = match std::env::var_os("PATH") {
        Some(path) => format!("basso's PATH `{}`", path.to_string_lossy()),
        None => "basso's PATH, which is not set".to_string(),
    };
    let help = match &spec.program {
        Program::Script {
            shell: Shell::Pwsh, ..
        } => "install PowerShell (`pwsh`) or use shell `Sh`, `Bash` or `Python`",
        _ => "install it or change the step",
    };
    format!(
        "step `{}` needs `{program}`, which is not found in {searched}; \
         help: {help} (a `PATH` in the step's `envVariables` is not searched for it)",
        spec.step_id
    )
}

#[allow(unsafe_code)]
fn set_parent_death_signal(command: &mut Command) {
    let parent = std::process::id();
    // SAFETY: the closure runs in the forked child before exec and calls only
    // prctl(2) and getppid(2), both async-signal-safe, and allocates nothing.
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            // The parent may have died between fork and prctl.
            if nix::unistd::getppid().as_raw() as u32 != parent {
                return Err(std::io::Error::other(
                    "basso exited before the step started",
                ));
            }
            Ok(())
        });
    }
}

/// Makes a step's script and output folders private: scripts may hold
/// secret values written into the command text. A step that runs as another
/// user owns its folders, so it can read its script and write its outputs.
fn restrict_to_step_user(dirs: &[&Path], user: Option<StepUser>) -> Result<(), ExecError> {
    for dir in dirs {
        set_mode(dir, 0o700)?;
        if let Some(user) = user {
            std::os::unix::fs::chown(dir, Some(user.uid), Some(user.gid)).map_err(|error| {
                ExecError(format!(
                    "cannot give `{}` to user {}: {error}",
                    dir.display(),
                    user.uid
                ))
            })?;
        }
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<(), ExecError> {
    use std::os::unix::fs::PermissionsExt;

    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|error| {
        ExecError(format!(
            "cannot set the permissions of `{}`: {error}",
            path.display()
        ))
    })
}

fn script_file_name(shell: Shell) -> &'static str {
    match shell {
        Shell::Sh | Shell::Bash => "script.sh",
        Shell::Python => "script.py",
        Shell::Pwsh => "script.ps1",
    }
}

/// Returns one line of Python that, when the interpreter exits, writes
/// each output variable set in the environment to its own file in `dir`.
/// It writes the raw bytes of `os.environb`, because a value that is not
/// valid UTF-8 cannot be encoded as text and would stop the loop. Unless
/// the interpreter already handles `SIGTERM`, the signal that stops a step
/// at its timeout exits with status 143, so that the writer still runs.
/// It is one line of simple statements, so [`with_python_writer`] can join
/// it to a line of the script.
pub fn python_output_writer(outputs: &[String], dir: &str) -> String {
    let names: Vec<String> = outputs.iter().map(|name| format!("b{name:?}")).collect();
    format!(
        "import atexit as _basso_atexit, os as _basso_os, signal as _basso_signal; \
         _basso_signal.getsignal(_basso_signal.SIGTERM) == _basso_signal.SIG_DFL and _basso_signal.signal(_basso_signal.SIGTERM, lambda *_: __import__('sys').exit(143)); \
         _basso_atexit.register(lambda: [__import__('pathlib').Path(_basso_os.fsdecode(_basso_os.path.join({dir:?}.encode(), name))).write_bytes(_basso_os.environb[name]) \
         for name in [{}] if name in _basso_os.environb])\n",
        names.join(", ")
    )
}

/// Returns the Python `script` with the line `writer` (ending in a newline)
/// put after the script's opening docstring and `from __future__` imports,
/// which Python requires before any other statement, else before its
/// first line. Only the lines before the first other statement are read,
/// so later text, such as a string's, is never changed.
///
/// The writer joins the line it follows or precedes, after a `;`, so that
/// the script's line numbers stay those of `command`. It takes a line of
/// its own where joining is not safe: after a line with a `#`, and before a
/// first line that opens a compound statement (`if`, `def`, `@`, ...), is
/// indented, or names a source encoding.
pub fn with_python_writer(script: &str, writer: &str) -> String {
    // A byte order mark stays the file's first character, where Python
    // accepts it.
    if let Some(rest) = script.strip_prefix('\u{feff}') {
        return format!("\u{feff}{}", with_python_writer(rest, writer));
    }
    let statement = writer.trim_end_matches('\n');
    let lines: Vec<&str> = script.split_inclusive('\n').collect();
    let mut text = String::with_capacity(script.len() + writer.len() + 2);
    match opening_end(&lines) {
        Some(last) => {
            for (index, line) in lines.iter().enumerate() {
                if index != last {
                    text.push_str(line);
                    continue;
                }
                let (body, ending) = split_line_ending(line);
                if body.contains('#') {
                    text.push_str(body);
                    text.push_str(if ending.is_empty() { "\n" } else { ending });
                    text.push_str(writer);
                } else {
                    text.push_str(body);
                    text.push_str("; ");
                    text.push_str(statement);
                    text.push_str(if ending.is_empty() { "\n" } else { ending });
                }
            }
        }
        None => {
            let first = lines.first().copied().unwrap_or_default();
            if joins_before(split_line_ending(first).0) {
                text.push_str(statement);
                text.push_str("; ");
            } else {
                text.push_str(writer);
            }
            text.push_str(script);
        }
    }
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// Splits `line` into its text and its line ending (`\r\n`, `\n` or none).
fn split_line_ending(line: &str) -> (&str, &str) {
    if let Some(body) = line.strip_suffix("\r\n") {
        (body, "\r\n")
    } else if let Some(body) = line.strip_suffix('\n') {
        (body, "\n")
    } else {
        (line, "")
    }
}

/// Returns whether a simple statement followed by `;` may go in front of
/// the Python script's first line `line`: it is blank, a comment that names
/// no source encoding, or starts a simple statement.
fn joins_before(line: &str) -> bool {
    const COMPOUND: [&str; 12] = [
        "if", "elif", "else", "for", "while", "def", "class", "with", "try", "except", "finally",
        "async",
    ];
    let trimmed = line.trim();
    if trimmed.is_empty() {
        return true;
    }
    if line.starts_with([' ', '\t', '\x0c']) {
        return false;
    }
    if trimmed.starts_with('#') {
        return !trimmed.contains("coding");
    }
    if trimmed.starts_with('@') {
        return false;
    }

    let word_end = trimmed
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(trimmed.len());
    let word = &trimmed[..word_end];
    // `match` and `case` are keywords only in a statement that ends in
    // `:`; elsewhere they are names, as in `match = 1`.
    let soft = matches!(word, "match" | "case");
    let opens_block = trimmed
        .split('#')
        .next()
        .unwrap_or_default()
        .trim_end()
        .ends_with(':');
    !(COMPOUND.contains(&word) || soft && opens_block)
}

/// Returns the index of the last line of the opening docstring and
/// `from __future__` imports among the Python script's `lines`, or `None`
/// when the script opens with neither.
fn opening_end(lines: &[&str]) -> Option<usize> {
    let mut after = None;
    // `(` or `\` while a future import goes on over more lines.
    let mut continued: Option<char> = None;
    // The closing quotes while a docstring goes on over more lines.
    let mut docstring_end: Option<&str> = None;
    let mut docstring_seen = false;

    for (index, line) in lines.iter().enumerate() {
        if let Some(quotes) = docstring_end {
            if unescaped_count(line, quotes) > 0 {
                docstring_end = None;
            }
            after = Some(index);
            continue;
        }

        // A future import has no string, so `#` starts its comment.
        let code = line.split('#').next().unwrap_or_default().trim_end();
        match continued {
            Some('(') => {
                if code.contains(')') {
                    continued = None;
                }
                after = Some(index);
                continue;
            }
            Some(_) => {
                if !code.ends_with('\\') {
                    continued = None;
                }
                after = Some(index);
                continue;
            }
            None => {}
        }

        let statement = line.trim();
        if statement.is_empty() || statement.starts_with('#') {
            continue;
        }
        if code.starts_with("from __future__ import") {
            continued = continuation(code);
            after = Some(index);
            continue;
        }
        // A docstring may come first, before the future imports, also as a
        // raw or unicode string (`r"""…"""`, `u"…"`).
        let literal = statement
            .strip_prefix(['r', 'R', 'u', 'U'])
            .filter(|rest| rest.starts_with(['"', '\'']))
            .unwrap_or(statement);
        if after.is_none()
            && !docstring_seen
            && line.starts_with(['"', '\'', 'r', 'R', 'u', 'U'])
            && literal.starts_with(['"', '\''])
        {
            docstring_seen = true;
            let quotes = ["\"\"\"", "\'\'\'"]
                .into_iter()
                .find(|quotes| literal.starts_with(quotes));
            if let Some(quotes) = quotes
                && unescaped_count(literal, quotes) < 2
            {
                docstring_end = Some(quotes);
            }
            // A future import may follow the docstring on its line.
            if let Some((_, import)) = statement.rsplit_once("from __future__ import") {
                let import = import.split('#').next().unwrap_or_default().trim_end();
                continued = continuation(import);
            }
            after = Some(index);
            continue;
        }
        break;
    }

    after
}

/// Counts the occurrences of `quotes` in `text` that no backslash escapes:
/// `\"""` does not end a docstring, raw or not.
fn unescaped_count(text: &str, quotes: &str) -> usize {
    text.match_indices(quotes)
        .filter(|(at, _)| {
            let backslashes = text[..*at]
                .bytes()
                .rev()
                .take_while(|&b| b == b'\\')
                .count();
            backslashes % 2 == 0
        })
        .count()
}

/// Returns `(` or `\` when the future import `code` (without its comment)
/// goes on over the next line, else `None`.
fn continuation(code: &str) -> Option<char> {
    if code.contains('(') && !code.contains(')') {
        Some('(')
    } else if code.ends_with('\\') {
        Some('\\')
    } else {
        None
    }
}

/// The largest output variable file basso reads, 4 MiB. A larger value is
/// left out with a warning, so a step cannot make basso hold any amount of
/// memory.
const MAX_OUTPUT_FILE_BYTES: u64 = 4 << 20;

/// Reads the `outputVariables` in `names` from their files in `dir`, one
/// file per variable. A variable without a file was never set and is left
/// out. Each problem concerns one variable and logs a warning that names
/// it: invalid UTF-8 in a value is replaced by U+FFFD, and a file that
/// cannot be read leaves its variable out. The other variables are kept.
///
/// The step may own `dir` (a `runAsUser` step, or a container through the
/// shared workspace) while basso reads it as root. So basso follows no
/// symbolic link at `dir` or at a file in it, and reads only regular
/// files. A link to `/etc/shadow` or a FIFO is left out with a warning;
/// it is neither read nor allowed to block the run.
pub fn read_output_files(step_id: &str, dir: &Path, names: &[String]) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    if names.is_empty() {
        return values;
    }
    let folder = match open_output_folder(dir) {
        Ok(Some(folder)) => folder,
        Ok(None) => return values,
        Err(error) => {
            tracing::warn!(
                step_id,
                "cannot read output variables from `{}`: {error}",
                dir.display()
            );
            return values;
        }
    };
    for name in names {
        let path = dir.join(name);
        let bytes = match read_output_file(&folder, name) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => continue,
            Err(error) => {
                tracing::warn!(
                    step_id,
                    variable = %name,
                    "cannot read output variable `{name}` from `{}`: {error}",
                    path.display()
                );
                continue;
            }
        };

        let value = match String::from_utf8(bytes) {
            Ok(value) => value,
            Err(error) => {
                tracing::warn!(
                    step_id,
                    variable = %name,
                    "output variable `{name}` is not valid UTF-8 (byte {} of its value); \
                     invalid bytes are replaced by U+FFFD",
                    error.utf8_error().valid_up_to() + 1
                );
                String::from_utf8_lossy(error.as_bytes()).into_owned()
            }
        };
        values.insert(name.clone(), value);
    }
    values
}

/// Opens the output folder without following a symbolic link. Returns
/// `None` when it does not exist.
fn open_output_folder(dir: &Path) -> std::io::Result<Option<std::fs::File>> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_DIRECTORY | nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
        .open(dir)
    {
        Ok(folder) => Ok(Some(folder)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error)
            if error.raw_os_error() == Some(nix::libc::ELOOP)
                || error.raw_os_error() == Some(nix::libc::ENOTDIR) =>
        {
            Err(std::io::Error::other(
                "it is not a folder but a link or a file, so it is not read",
            ))
        }
        Err(error) => Err(error),
    }
}

/// Reads the output file `name` in `folder`: a regular file of at most
/// [`MAX_OUTPUT_FILE_BYTES`], not a symbolic link. Returns `None` when the
/// file does not exist.
fn read_output_file(folder: &std::fs::File, name: &str) -> std::io::Result<Option<Vec<u8>>> {
    use nix::fcntl::{OFlag, openat};
    use nix::sys::stat::Mode;
    use std::io::Read;

    // O_NONBLOCK keeps a FIFO from blocking the open; it is refused below.
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    let file = match openat(folder, name, flags, Mode::empty()) {
        Ok(fd) => std::fs::File::from(fd),
        Err(nix::errno::Errno::ENOENT) => return Ok(None),
        Err(nix::errno::Errno::ELOOP) => {
            return Err(std::io::Error::other(
                "it is a symbolic link, which basso does not follow",
            ));
        }
        Err(errno) => return Err(std::io::Error::from(errno)),
    };
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(std::io::Error::other("it is not a regular file"));
    }
    if metadata.len() > MAX_OUTPUT_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "it is {} bytes, more than the limit of {MAX_OUTPUT_FILE_BYTES} bytes",
            metadata.len()
        )));
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    // A process the step left behind may still be writing, so the read
    // stops at the limit whatever size the metadata gave.
    file.take(MAX_OUTPUT_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_OUTPUT_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "it is larger than the limit of {MAX_OUTPUT_FILE_BYTES} bytes"
        )));
    }
    Ok(Some(bytes))
}

/// Returns the script text basso runs: the step's script with errexit on
/// and, when the step declares `outputVariables`, code that writes each
/// variable to its own file in `output_dir` when the script ends.
fn wrap_script(shell: Shell, script: &str, outputs: &[String], output_dir: &Path) -> String {
    let dir = output_dir.display().to_string();
    match shell {
        Shell::Sh | Shell::Bash => {
            let (before, after) = shell_output_writer(outputs, &dir);
            format!("{before}set -e; {}{after}", with_final_newline(script))
        }
        Shell::Python if outputs.is_empty() => format!("{script}\n"),
        Shell::Python => with_python_writer(script, &python_output_writer(outputs, &dir)),
        Shell::Pwsh => {
            // NOTE: not run in tests, because PowerShell is not installable
            // from the package registries this project uses.
            let mut text = String::from("$ErrorActionPreference = 'Stop'\ntry {\n");
            text.push_str(script);
            text.push_str("\n} finally {\n");
            for name in outputs {
                let file = format!("{dir}/{name}").replace('\'', "''");
                text.push_str(&format!(
                    "if (Test-Path env:{name}) {{ [IO.File]::WriteAllText('{file}', $env:{name}) }}\n"
                ));
            }
            text.push_str("}\n");
            text
        }
    }
}

/// Returns `script` ending in one newline of its own: a second one would
/// move the line at which the shell reports an unexpected end of file.
pub fn with_final_newline(script: &str) -> std::borrow::Cow<'_, str> {
    if script.ends_with('\n') {
        std::borrow::Cow::Borrowed(script)
    } else {
        std::borrow::Cow::Owned(format!("{script}\n"))
    }
}

/// Returns the text that goes before and after an `sh` or `bash` script so
/// that it writes each of `outputs` that is set to its own file in `dir`.
/// They are written from an `EXIT` trap, so that a failing or exiting
/// script still records them, and again after the script's last line, for
/// scripts that set a `trap … EXIT` of their own. A script that ends with
/// `exec` records none. The text before is one line of commands, each
/// followed by `; `, which goes in front of the script's first line so that
/// the shell's messages give the script's own line numbers. Both parts are
/// empty when `outputs` is.
pub fn shell_output_writer(outputs: &[String], dir: &str) -> (String, String) {
    if outputs.is_empty() {
        return (String::new(), String::new());
    }
    let mut before = String::from("__basso_write_outputs() { ");
    for name in outputs {
        let file = shell_quote(&format!("{dir}/{name}"));
        before.push_str(&format!(
            "if [ -n \"${{{name}+x}}\" ]; then printf '%s' \"${name}\" > {file}; fi; "
        ));
    }
    before.push_str("}; ");
    before.push_str("trap '__basso_rc=$?; __basso_write_outputs; exit $__basso_rc' EXIT; ");
    // `sh` (dash) runs no `EXIT` trap when a signal ends it, as at a
    // timeout; exiting on `TERM` runs it.
    before.push_str("trap 'exit 143' TERM; ");
    // The blank line ends a last line that a `\` continues, which would
    // take the call as its argument.
    (before, "\n__basso_write_outputs\n".to_string())
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Finds `program` on the `PATH`, or as a path when it contains a slash.
pub fn find_program(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let path = PathBuf::from(program);
        return path.is_file().then_some(path);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

fn spawn_reader(stream: impl Read + Send + 'static, logs: LogSink) -> mpsc::Receiver<()> {
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        forward_lines(stream, |line| logs(line));
        let _ = done.send(());
    });
    finished
}

struct HostTask {
    step_id: String,
    child: Child,
    pid: u32,
    exit: Option<Exit>,
    readers: Vec<mpsc::Receiver<()>>,
    scratch: PathBuf,
    output_dir: PathBuf,
    output_variables: Vec<String>,
    watchdog: Arc<Watchdog>,
    group_gone: bool,
    /// Descendants of the task that left its process group.
    escaped: Vec<ProcessStart>,
    last_scan: Instant,
    /// `BASSO_TASK=<scratch folder>` and a NUL, as the entry appears in
    /// `/proc/PID/environ`.
    mark: Vec<u8>,
}

/// Returns the environment entry that marks the processes of the task
/// whose scratch folder is `scratch`, as `/proc/PID/environ` lists it.
fn task_mark(scratch: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    let mut mark = format!("{TASK_MARK_VARIABLE}=").into_bytes();
    mark.extend_from_slice(scratch.as_os_str().as_bytes());
    mark.push(0);
    mark
}

/// Returns whether process `pid` started with `mark` in its environment.
/// A process that cannot be read does not count.
fn carries_mark(pid: i32, mark: &[u8]) -> bool {
    let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
        return false;
    };
    // Each entry ends with a NUL, so a match at the start or after a NUL
    // is a whole entry.
    environ
        .split_inclusive(|&byte| byte == 0)
        .any(|entry| entry == mark)
}

/// A process id with the process's start time, so that a process id the
/// kernel has reused is not taken for the process recorded under it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ProcessStart {
    pid: i32,
    /// Clock ticks after boot, field 22 of `/proc/PID/stat`.
    start_ticks: u64,
}

impl HostTask {
    fn try_exit(&mut self) -> Result<Option<Exit>, ExecError> {
        if let Some(exit) = self.exit {
            return Ok(Some(exit));
        }
        let status = self.child.try_wait().map_err(|error| {
            ExecError(format!("cannot wait for step `{}`: {error}", self.step_id))
        })?;
        let Some(status) = status else {
            return Ok(None);
        };

        let exit = match (status.code(), status.signal()) {
            (Some(code), _) => Exit::Code(code),
            (None, Some(signal)) => Exit::Signal(signal),
            (None, None) => Exit::Code(-1),
        };
        self.exit = Some(exit);
        // Processes the script left behind are part of the step.
        self.end_group(&StopDeadline::after(LEFTOVER_GRACE));
        self.join_readers();
        Ok(Some(exit))
    }

    /// Stops the task's process group and the processes that left it:
    /// SIGTERM first, then SIGKILL to whatever remains once `deadline`
    /// passes. Returns whether any process needed SIGKILL.
    fn end_group(&mut self, deadline: &StopDeadline) -> bool {
        if self.group_gone {
            return false;
        }
        self.record_escaped();
        self.record_marked();
        signal_escaped(&self.escaped, Signal::SIGTERM);

        let group_killed = self.end_own_group(deadline);
        // A process that called `setsid` while the group was stopped was
        // still in the group at the first look, and carries the mark now.
        let known = self.escaped.len();
        self.record_marked();
        signal_escaped(&self.escaped[known..], Signal::SIGTERM);
        let escaped_killed = end_escaped(std::mem::take(&mut self.escaped), deadline);
        group_killed || escaped_killed
    }

    /// Records the processes outside the task's process group whose
    /// environment carries the task's mark, such as a `setsid` process
    /// whose parent exited before a walk of the tree could see it.
    fn record_marked(&mut self) {
        let Some(table) = process_table() else {
            return;
        };
        for process in &table {
            let outside = process.group != self.pid as i32;
            if outside
                && !self.escaped.contains(&process.start)
                && carries_mark(process.start.pid, &self.mark)
            {
                tracing::debug!(
                    step_id = %self.step_id,
                    pid = process.start.pid,
                    "a process the step left behind carries its mark"
                );
                self.escaped.push(process.start);
            }
        }
    }

    /// Walks the task's process tree when the last walk is older than
    /// [`TREE_SCAN_INTERVAL`].
    fn scan_if_due(&mut self) {
        if self.exit.is_none() && self.last_scan.elapsed() >= TREE_SCAN_INTERVAL {
            self.record_escaped();
        }
    }

    /// Records the descendants of the task's main process, and of the
    /// processes recorded before, that are outside the task's process
    /// group. A process whose parent exited before a walk saw it has been
    /// passed to init and is not found.
    fn record_escaped(&mut self) {
        self.last_scan = Instant::now();
        let Some(table) = process_table() else {
            return;
        };
        // Once the main process is reaped, its id may belong to another
        // process, and so may the id of a recorded process that ended.
        let mut roots: Vec<i32> = table
            .iter()
            .filter(|entry| self.escaped.contains(&entry.start))
            .map(|entry| entry.start.pid)
            .collect();
        if self.exit.is_none() {
            roots.push(self.pid as i32);
        }
        for process in descendants(&table, &roots) {
            let outside = process.group != self.pid as i32;
            if outside && !self.escaped.contains(&process.start) {
                tracing::debug!(
                    step_id = %self.step_id,
                    pid = process.start.pid,
                    "a process of the step left its process group"
                );
                self.escaped.push(process.start);
            }
        }
    }

    /// Sends SIGTERM to the task's process group, then SIGKILL once
    /// `deadline` passes to whatever remains, and waits until the group is
    /// empty. Returns whether the group needed SIGKILL.
    fn end_own_group(&mut self, deadline: &StopDeadline) -> bool {
        let group = Pid::from_raw(self.pid as i32);
        if killpg(group, Signal::SIGTERM) == Err(Errno::ESRCH) {
            self.forget_group();
            return false;
        }

        while !deadline.passed() {
            self.poll_exit();
            if group_is_empty(group) {
                // The main process may have ended since it was polled: it
                // is then an unreaped zombie, which the group check skips.
                self.poll_exit();
                if self.exit.is_some() || killpg(group, None) == Err(Errno::ESRCH) {
                    self.forget_group();
                    return false;
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let killed = !group_is_empty(group);

        let _ = killpg(group, Signal::SIGKILL);
        if self.exit.is_none()
            && let Ok(status) = self.child.wait()
        {
            self.exit = Some(match status.code() {
                Some(code) => Exit::Code(code),
                None => Exit::Signal(status.signal().unwrap_or(0)),
            });
        }
        // SIGKILL cannot be caught, so the group empties at once; waiting a
        // moment covers processes the kernel is still tearing down.
        for _ in 0..200 {
            if group_is_empty(group) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.forget_group();
        killed
    }

    /// Records the main process's exit if it has ended, without waiting.
    fn poll_exit(&mut self) {
        if self.exit.is_some() {
            return;
        }
        if let Ok(Some(status)) = self.child.try_wait() {
            self.exit = Some(match status.code() {
                Some(code) => Exit::Code(code),
                None => Exit::Signal(status.signal().unwrap_or(0)),
            });
        }
    }

    fn forget_group(&mut self) {
        self.group_gone = true;
        self.watchdog.unregister(self.pid);
    }

    fn join_readers(&mut self) {
        let deadline = Instant::now() + READER_JOIN_TIMEOUT;
        for reader in self.readers.drain(..) {
            let left = deadline.saturating_duration_since(Instant::now());
            let _ = reader.recv_timeout(left);
        }
    }
}

/// One row of the process table, from `/proc/PID/stat`.
struct ProcessEntry {
    start: ProcessStart,
    parent: i32,
    group: i32,
}

/// Reads the process id, parent, process group and start time of every
/// process in `/proc`, or `None` where `/proc` cannot be listed.
fn process_table() -> Option<Vec<ProcessEntry>> {
    let entries = std::fs::read_dir("/proc").ok()?;
    let table = entries
        .flatten()
        .filter_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let stat = stat_fields(&stat)?;
            let start = ProcessStart {
                pid,
                start_ticks: stat.start_ticks,
            };
            (!has_ended(stat.state)).then_some(ProcessEntry {
                start,
                parent: stat.parent,
                group: stat.group,
            })
        })
        .collect();
    Some(table)
}

/// Returns the processes of `table` below the processes `roots`.
fn descendants<'t>(table: &'t [ProcessEntry], roots: &[i32]) -> Vec<&'t ProcessEntry> {
    let mut found: Vec<&ProcessEntry> = Vec::new();
    let mut parents = roots.to_vec();
    while let Some(parent) = parents.pop() {
        for process in table.iter().filter(|process| process.parent == parent) {
            if !found.iter().any(|seen| seen.start == process.start) {
                found.push(process);
                parents.push(process.start.pid);
            }
        }
    }
    found
}

/// Returns whether the process recorded as `process` still runs: its id
/// has not been reused and it is not a zombie.
fn still_runs(process: ProcessStart) -> bool {
    std::fs::read_to_string(format!("/proc/{}/stat", process.pid))
        .ok()
        .and_then(|stat| stat_fields(&stat))
        .is_some_and(|stat| stat.start_ticks == process.start_ticks && !has_ended(stat.state))
}

fn signal_escaped(escaped: &[ProcessStart], signal: Signal) {
    for &process in escaped {
        if still_runs(process) {
            let _ = nix::sys::signal::kill(Pid::from_raw(process.pid), signal);
        }
    }
}

/// Waits until `deadline` for the processes in `escaped` to end, then
/// sends SIGKILL to those that still run. Returns whether any needed it.
fn end_escaped(mut escaped: Vec<ProcessStart>, deadline: &StopDeadline) -> bool {
    loop {
        escaped.retain(|&process| still_runs(process));
        if escaped.is_empty() || deadline.passed() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    signal_escaped(&escaped, Signal::SIGKILL);
    !escaped.is_empty()
}

/// Returns whether no running process is left in the process group
/// `group`. A process that has exited but is not reaped yet (a zombie)
/// counts as gone: when a step's shell dies first, its children's zombies
/// pass to the init process, which may reap them a second or more later.
fn group_is_empty(group: Pid) -> bool {
    if killpg(group, None) == Err(Errno::ESRCH) {
        return true;
    }
    !has_running_member(group.as_raw())
}

/// Looks through `/proc` for a process of `group` that is not a zombie.
/// Where `/proc` cannot be read, every member counts as running.
fn has_running_member(group: i32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return true;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let stat = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => stat,
            // The process ended between the listing and the read.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(_) => return true,
        };
        match stat_fields(&stat) {
            Some(stat) if stat.group == group => {
                if !has_ended(stat.state) || has_running_thread(pid) {
                    return true;
                }
            }
            Some(_) => {}
            None => return true,
        }
    }
    false
}

/// Returns whether a state letter of `/proc/PID/stat` is that of a
/// process that has exited.
fn has_ended(state: char) -> bool {
    matches!(state, 'Z' | 'X' | 'x')
}

/// Returns whether a thread of process `pid` still runs. The first thread
/// of a process may exit before the others, and the process then shows
/// the zombie state while its other threads run.
fn has_running_thread(pid: &str) -> bool {
    let Ok(threads) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    threads.flatten().any(|thread| {
        std::fs::read_to_string(thread.path().join("stat"))
            .ok()
            .and_then(|stat| stat_fields(&stat))
            .is_some_and(|stat| !has_ended(stat.state))
    })
}

/// The fields of `/proc/PID/stat` that the runner reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    state: char,
    parent: i32,
    group: i32,
    /// Clock ticks after boot when the process started (field 22).
    start_ticks: u64,
}

/// Reads the state letter, parent id, process group id and start time from
/// the text of `/proc/PID/stat`: `pid (comm) state ppid pgrp …`, where
/// `comm` may itself hold spaces and parentheses.
fn stat_fields(stat: &str) -> Option<Stat> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    // Fields count from 1 at the process id, and `rest` starts at field 3.
    Some(Stat {
        state: fields.first()?.chars().next()?,
        parent: fields.get(1)?.parse().ok()?,
        group: fields.get(2)?.parse().ok()?,
        start_ticks: fields.get(22 - 3)?.parse().ok()?,
    })
}

impl Task for HostTask {
    fn pid(&self) -> Option<u32> {
        Some(self.pid)
    }

    fn wait(&mut self, timeout: Duration) -> Result<Option<Exit>, ExecError> {
        let deadline = Instant::now() + timeout;
        // Short steps end within milliseconds, so polling starts at 1 ms
        // and backs off to 10 ms for long ones.
        let mut pause = Duration::from_millis(1);
        loop {
            self.scan_if_due();
            if let Some(exit) = self.try_exit()? {
                return Ok(Some(exit));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            std::thread::sleep(left.min(pause));
            pause = (pause * 2).min(Duration::from_millis(10));
        }
    }

    fn stop(&mut self, deadline: &StopDeadline) -> Result<Exit, ExecError> {
        if let Some(exit) = self.try_exit()? {
            return Ok(exit);
        }
        tracing::debug!(step_id = %self.step_id, pid = self.pid, "stopping process group");
        if self.end_group(deadline) {
            tracing::warn!(step_id = %self.step_id, pid = self.pid, "sent SIGKILL to the processes that were still running");
        }
        self.join_readers();
        self.exit
            .ok_or_else(|| ExecError(format!("step `{}` did not stop", self.step_id)))
    }

    fn outputs(&mut self) -> Result<BTreeMap<String, String>, ExecError> {
        Ok(read_output_files(
            &self.step_id,
            &self.output_dir,
            &self.output_variables,
        ))
    }

    /// Names a service that listens on the IPv6 loopback address only,
    /// such as a server that binds `localhost` where it resolves to `::1`.
    fn readiness_hint(&self, host_port: u16) -> Option<String> {
        crate::ports::accepts_on_ipv6_loopback(host_port).then(|| {
            format!(
                "a process accepts connections on [::1]:{host_port} but not on 127.0.0.1:{host_port}, where basso and later steps connect; if that is the service, make it listen on 127.0.0.1 or 0.0.0.0"
            )
        })
    }
}

impl Drop for HostTask {
    fn drop(&mut self) {
        if self.exit.is_none() || !self.group_gone {
            self.end_group(&StopDeadline::after(LEFTOVER_GRACE));
        }
        // The script file and captured outputs live only as long as the step.
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

/// The watchdog process: an `sh` loop that reads `+PGID` and `-PGID` lines
/// and, at end of input, stops every process group still listed.
struct Watchdog {
    pid: u32,
    input: Mutex<Option<ChildStdin>>,
    child: Mutex<Child>,
}

// dash's `kill` takes no `--`, so a negative process group id follows the
// signal directly.
const WATCHDOG_SCRIPT: &str = r#"
groups=' '
while IFS= read -r line; do
  case $line in
    +*) groups="$groups${line#+} " ;;
    -*) kept=' '
        for group in $groups; do
          [ "$group" = "${line#-}" ] || kept="$kept$group "
        done
        groups=$kept ;;
  esac
done
[ -n "${groups# }" ] || exit 0
for group in $groups; do kill -TERM "-$group" 2>/dev/null; done
sleep 2
for group in $groups; do kill -KILL "-$group" 2>/dev/null; done
exit 0
"#;

impl Watchdog {
    fn start() -> Result<Watchdog, ExecError> {
        // Its own process group keeps a terminal's Ctrl-C away from it.
        let mut child = Command::new("sh")
            .args(["-c", WATCHDOG_SCRIPT])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|error| {
                ExecError(format!(
                    "cannot start `sh`, which basso runs to stop the steps' processes should basso itself be killed: {error}; help: put a POSIX shell named `sh` on basso's PATH"
                ))
            })?;
        let input = child.stdin.take();
        Ok(Watchdog {
            pid: child.id(),
            input: Mutex::new(input),
            child: Mutex::new(child),
        })
    }

    fn send(&self, line: String) {
        if let Some(input) = self.input.lock().expect("watchdog lock").as_mut()
            && let Err(error) = input.write_all(line.as_bytes())
        {
            tracing::warn!(%error, "cannot reach the watchdog process");
        }
    }

    fn register(&self, pgid: u32) {
        self.send(format!("+{pgid}\n"));
    }

    fn unregister(&self, pgid: u32) {
        self.send(format!("-{pgid}\n"));
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        // Closing its input lets the watchdog finish; every group it still
        // lists is stopped by it.
        drop(self.input.lock().expect("watchdog lock").take());
        let _ = self.child.lock().expect("watchdog lock").wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_writer_follows_future_imports() {
        let writer = "W\n";
        for (script, expected) in [
            ("print(1)", "W; print(1)\n"),
            ("", "W; \n"),
            ("# note\nprint(1)", "W; # note\nprint(1)\n"),
            (
                "from __future__ import annotations\nprint(1)\n",
                "from __future__ import annotations; W\nprint(1)\n",
            ),
            (
                "\"\"\"Doc.\"\"\"\r\nfrom __future__ import annotations",
                "\"\"\"Doc.\"\"\"\r\nfrom __future__ import annotations; W\n",
            ),
            (
                "from __future__ import (\n    annotations,\n)\nx = (1,\n)\n",
                "from __future__ import (\n    annotations,\n); W\nx = (1,\n)\n",
            ),
            (
                "from __future__ import annotations, \\\n    division\nprint(1)",
                "from __future__ import annotations, \\\n    division; W\nprint(1)\n",
            ),
            // A future import beside the docstring goes on over two lines.
            (
                "\"Doc.\"; from __future__ import (annotations,\n    division)\nprint(1)",
                "\"Doc.\"; from __future__ import (annotations,\n    division); W\nprint(1)\n",
            ),
            // A `(` in the comment of a future import opens nothing, and the
            // comment would swallow a joined writer.
            (
                "from __future__ import annotations  # (PEP 563\ndef f():\n    return 1\n",
                "from __future__ import annotations  # (PEP 563\nW\ndef f():\n    return 1\n",
            ),
            // A future import inside a later string is text.
            (
                "x = \"\"\"\nfrom __future__ import annotations\n\"\"\"\n",
                "W; x = \"\"\"\nfrom __future__ import annotations\n\"\"\"\n",
            ),
            // The docstring stays the module's first statement.
            (
                "\"\"\"Doc\nmore.\n\"\"\"\n# note\nprint(1)",
                "\"\"\"Doc\nmore.\n\"\"\"; W\n# note\nprint(1)\n",
            ),
            // No simple statement goes in front of these first lines.
            ("if True:\n    print(1)", "W\nif True:\n    print(1)\n"),
            ("@cache\ndef f(): pass", "W\n@cache\ndef f(): pass\n"),
            (
                "# -*- coding: utf-8 -*-\nx = 1",
                "W\n# -*- coding: utf-8 -*-\nx = 1\n",
            ),
            ("async def f(): pass", "W\nasync def f(): pass\n"),
            (
                "match command:\n    case _: pass",
                "W\nmatch command:\n    case _: pass\n",
            ),
            ("match = 1", "W; match = 1\n"),
            // A raw or unicode docstring is a docstring too.
            (
                "r\"\"\"C:\\tmp.\"\"\"\nfrom __future__ import annotations\nx = 1",
                "r\"\"\"C:\\tmp.\"\"\"\nfrom __future__ import annotations; W\nx = 1\n",
            ),
            ("U'''Doc\n'''\nx = 1", "U'''Doc\n'''; W\nx = 1\n"),
            // An escaped `\"""` does not end a docstring.
            (
                "r\"\"\"multi\nline \\\"\"\"\nstill doc\n\"\"\"\nx = 1",
                "r\"\"\"multi\nline \\\"\"\"\nstill doc\n\"\"\"; W\nx = 1\n",
            ),
            (
                "\"\"\"Say \\\"\"\" hi\nmore\"\"\"\nx = 1",
                "\"\"\"Say \\\"\"\" hi\nmore\"\"\"; W\nx = 1\n",
            ),
            // A name that starts with `r` is no string prefix.
            ("ready = 1", "W; ready = 1\n"),
            ("\u{feff}x = 1", "\u{feff}W; x = 1\n"),
        ] {
            assert_eq!(with_python_writer(script, writer), expected, "{script:?}");
        }
    }

    /// A traceback under the machine's `python3` names the line of the
    /// script as written, with and without a docstring.
    #[test]
    fn python_writer_keeps_traceback_lines() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().display().to_string();
        let writer = python_output_writer(&["A".into()], &folder);
        for script in [
            "import os\nos.environ['A'] = 'set'\nraise ValueError('boom')\n",
            "\"\"\"Doc.\"\"\"\nimport os\nos.environ['A'] = 'set'\nraise ValueError('boom')\n",
        ] {
            let path = dir.path().join("script.py");
            std::fs::write(&path, with_python_writer(script, &writer)).unwrap();
            let output = std::process::Command::new("python3")
                .arg(&path)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            let raise_line = script.lines().count();
            assert!(
                stderr.contains(&format!("line {raise_line}, in <module>")),
                "{script:?}: {stderr}"
            );
            assert_eq!(
                std::fs::read_to_string(dir.path().join("A")).unwrap(),
                "set"
            );
            std::fs::remove_file(dir.path().join("A")).unwrap();
        }
    }

    /// The real writer under the machine's `python3`: a future import
    /// still opens the file, and the outputs are written.
    #[test]
    fn python_writer_runs_with_future_import() {
        let dir = tempfile::tempdir().unwrap();
        let script = "\"\"\"Sets A.\"\"\"\nfrom __future__ import annotations  # (PEP 563\nimport os\nassert __doc__ == 'Sets A.'\nos.environ['A'] = 'set'";
        let folder = dir.path().display().to_string();
        let text = with_python_writer(script, &python_output_writer(&["A".into()], &folder));
        let output = std::process::Command::new("python3")
            .arg("-c")
            .arg(&text)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("A")).unwrap(),
            "set"
        );
    }

    #[test]
    fn stat_text_gives_fields() {
        let stat = "4242 (my (odd) name) S 1 4240 4240 0 -1 4194560 103 0 0 0 0 0 0 0 20 0 1 0 987";
        let fields = stat_fields(stat).unwrap();
        assert_eq!((fields.state, fields.parent, fields.group), ('S', 1, 4240));
        assert_eq!(fields.start_ticks, 987);
        assert_eq!(stat_fields("garbage"), None);
    }

    #[test]
    fn stat_fields_of_own_process() {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let fields = stat_fields(&stat).unwrap();
        // The main thread of the test binary may sleep while tests run.
        assert!(!has_ended(fields.state), "{stat}");
        assert_eq!(fields.parent, nix::unistd::getppid().as_raw());
        assert_eq!(fields.group, nix::unistd::getpgrp().as_raw());
        assert!(fields.start_ticks > 0, "{stat}");
        assert_eq!(stat_fields("7 (short) S 1 7"), None);
    }

    /// A group whose only member left is an unreaped zombie counts as
    /// empty, while a group with a sleeping member does not.
    #[test]
    fn group_of_zombies_counts_as_empty() {
        // The inner `sh` exits at once. Its parent has become `sleep`
        // through `exec` and never reaps it, so it stays a zombie in the
        // group for as long as `sleep` runs.
        let mut leader = Command::new("sh")
            .args(["-c", "sh -c 'exit 0' & exec sleep 30"])
            .process_group(0)
            .spawn()
            .unwrap();
        let group = Pid::from_raw(leader.id() as i32);
        let zombie_seen = (0..200).any(|_| {
            std::thread::sleep(Duration::from_millis(10));
            group_states(group.as_raw()).contains(&'Z')
        });
        assert!(zombie_seen, "states: {:?}", group_states(group.as_raw()));
        assert!(!group_is_empty(group), "the leader still sleeps");

        leader.kill().unwrap();
        leader.wait().unwrap();
        assert!(
            group_is_empty(group),
            "states after the leader was reaped: {:?}",
            group_states(group.as_raw())
        );
    }

    /// Returns the state letters of the processes in `group`.
    fn group_states(group: i32) -> Vec<char> {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|entry| std::fs::read_to_string(entry.path().join("stat")).ok())
            .filter_map(|stat| stat_fields(&stat))
            .filter(|stat| stat.group == group)
            .map(|stat| stat.state)
            .collect()
    }
}
