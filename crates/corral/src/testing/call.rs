//! [`Call`]: what a fake or a recorder sees of one command.

use std::path::PathBuf;
use std::time::Duration;

use crate::command::Command;

/// One command as a runner received it: what tests assert on and what scripted
/// replies are matched against. Environment values are never kept, only names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The program as given (`git`, or `/usr/bin/git`).
    pub program: String,
    /// The arguments (text; invalid UTF-8 replaced).
    pub args: Vec<String>,
    /// The working directory, if one was set.
    pub cwd: Option<PathBuf>,
    /// The names of the variables the command sets, in name order (never the values).
    pub env_set: Vec<String>,
    /// The names of the variables the command removes.
    pub env_removed: Vec<String>,
    /// The command's timeout.
    pub timeout: Option<Duration>,
}

impl Call {
    /// What `cmd` is, as a runner sees it.
    pub fn of(cmd: &Command) -> Call {
        let mut env_set = Vec::new();
        let mut env_removed = Vec::new();
        for (k, v) in cmd.get_envs() {
            let name = k.to_string_lossy().into_owned();
            if v.is_some() {
                env_set.push(name);
            } else {
                env_removed.push(name);
            }
        }
        Call {
            program: cmd.get_program().to_string_lossy().into_owned(),
            args: cmd.get_args().iter().map(|a| a.to_string_lossy().into_owned()).collect(),
            cwd: cmd.get_current_dir().map(PathBuf::from),
            env_set,
            env_removed,
            timeout: cmd.get_timeout(),
        }
    }

    /// The program's last path component: `git` for `/usr/bin/git`.
    pub fn program_name(&self) -> &str {
        self.program.rsplit(['/', '\\']).next().unwrap_or(&self.program)
    }

    /// The program and the arguments, quoted as a shell would need them.
    pub fn command_line(&self) -> String {
        command_line(std::iter::once(&self.program).chain(&self.args))
    }

    /// Whether `words` (the program, then arguments) is exactly this call. The
    /// program matches as given or by its last path component.
    pub fn is<S: AsRef<str>>(&self, words: &[S]) -> bool {
        words.len() == self.args.len() + 1 && self.starts_with(words)
    }

    /// Whether this call starts with `words` (the program, then leading arguments).
    pub fn starts_with<S: AsRef<str>>(&self, words: &[S]) -> bool {
        let Some((program, args)) = words.split_first() else { return false };
        let program = program.as_ref();
        (program == self.program || program == self.program_name())
            && args.len() <= self.args.len()
            && args.iter().zip(&self.args).all(|(a, b)| a.as_ref() == b)
    }
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.command_line())?;
        if let Some(cwd) = &self.cwd {
            write!(f, " (in {})", cwd.display())?;
        }
        Ok(())
    }
}

/// A command line as a shell would need it quoted, for messages that must name the
/// command (a fake's "unexpected command", a cassette miss). Never for tracing.
pub(crate) fn command_line<S: AsRef<str>>(words: impl IntoIterator<Item = S>) -> String {
    let mut line = String::new();
    for w in words {
        let w = w.as_ref();
        if !line.is_empty() {
            line.push(' ');
        }
        let plain = !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
        if plain {
            line.push_str(w);
        } else {
            line.push('\'');
            line.push_str(&w.replace('\'', "'\\''"));
            line.push('\'');
        }
    }
    line
}
