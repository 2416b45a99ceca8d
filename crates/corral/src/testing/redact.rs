//! Redaction of secrets before a cassette is written: the built-in
//! [`redact_secrets`] and the hook type.

use std::sync::{Arc, OnceLock};

use regex::Regex;

/// What a redacted secret becomes.
pub const REDACTED: &str = "[REDACTED]";

/// A redaction hook: rewrites one argument, or a whole stdout or stderr, before it is
/// written to a cassette (and a command's arguments before they are matched against
/// one, so that a redacted recording still replays).
pub type Redactor = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// How the names of options and variables whose values are secrets end (`--password`,
/// `GITHUB_TOKEN`, `db-passwd`, `x-api-key`); a name only counts when it ends so, so
/// that `Author:` or `tokenizer=` are left alone.
const SECRET_NAMES: &str =
    r"password|passwd|passphrase|secret|token|api[-_]?key|apikey|access[-_]?key|private[-_]?key|credentials?";

fn patterns() -> &'static [(Regex, &'static str)] {
    static PATTERNS: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        let named = format!(r"(?i)(\b[A-Za-z0-9_-]*(?:{SECRET_NAMES})\s*[=:]\s*)[^\s&;,]+");
        [
            // PEM private keys, the whole block.
            (r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY-----", REDACTED),
            // Authorization headers.
            (r"(?i)(authorization:\s*(?:bearer|basic|token|digest)\s+)\S+", "${1}[REDACTED]"),
            (r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}", "${1}[REDACTED]"),
            // Credentials in URLs: scheme://user:password@host.
            (r"([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+:)[^/\s@]+@", "${1}[REDACTED]@"),
            // Well-known token shapes.
            (r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})", REDACTED),
            (r"\bglpat-[A-Za-z0-9_-]{20,}", REDACTED),
            (r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", REDACTED),
            (r"\bxox[abprs]-[A-Za-z0-9-]{10,}", REDACTED),
            (r"\bsk-[A-Za-z0-9_-]{20,}", REDACTED),
            (r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", REDACTED),
            // NAME=value, --name=value, name: value for secret-looking names.
            (named.as_str(), "${1}[REDACTED]"),
        ]
        .into_iter()
        .map(|(re, with)| (Regex::new(re).expect("the built-in patterns are valid"), with))
        .collect()
    })
}

/// The built-in redactor: replaces the common shapes of secrets with `[REDACTED]`:
/// values of options and variables named like secrets (`--password=…`,
/// `API_KEY=…`, `token: …`), `Authorization` headers and bearer tokens, passwords in
/// URLs, PEM private keys, and the token formats of GitHub, GitLab, AWS access keys,
/// Slack, OpenAI-style `sk-` keys and JWTs.
///
/// ```
/// use corral::testing::redact_secrets;
/// assert_eq!(redact_secrets("--password=hunter2"), "--password=[REDACTED]");
/// assert_eq!(redact_secrets("https://bob:pw@example.com/x"), "https://bob:[REDACTED]@example.com/x");
/// assert_eq!(redact_secrets("nothing to hide"), "nothing to hide");
/// ```
pub fn redact_secrets(text: &str) -> String {
    let mut out = std::borrow::Cow::Borrowed(text);
    for (re, with) in patterns() {
        if re.is_match(&out) {
            out = std::borrow::Cow::Owned(re.replace_all(&out, *with).into_owned());
        }
    }
    out.into_owned()
}

/// Whether `arg` is an option whose value is the next argument and a secret
/// (`--password`, `-p` is not assumed, `--token`, `--api-key`).
fn is_secret_flag(arg: &str) -> bool {
    static FLAG: OnceLock<Regex> = OnceLock::new();
    FLAG.get_or_init(|| Regex::new(&format!(r"(?i)^--?[A-Za-z0-9_-]*(?:{SECRET_NAMES})$")).expect("valid"))
        .is_match(arg)
}

/// Redacts a command's arguments: each one through `redact`, and with the built-in
/// redaction on, the argument after a secret-named flag (`--password hunter2`).
pub(crate) fn redact_args(args: &[String], redact: &[Redactor], builtin: bool) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut secret_next = false;
    for arg in args {
        if secret_next {
            out.push(REDACTED.to_owned());
            secret_next = false;
            continue;
        }
        secret_next = builtin && is_secret_flag(arg);
        out.push(redact_text(arg, redact, builtin));
    }
    out
}

/// `text` through the built-in redactor (when on) and every hook, in order.
pub(crate) fn redact_text(text: &str, redact: &[Redactor], builtin: bool) -> String {
    let mut text = if builtin { redact_secrets(text) } else { text.to_owned() };
    for r in redact {
        text = r(&text);
    }
    text
}
