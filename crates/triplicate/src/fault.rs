//! What kind of failure an error is: the one policy behind the CLI's exit codes and
//! the API's status codes. Every error of the library says its own [`Fault`] through
//! [`Classify`]; `exit_code` reads it off a chain of errors, and [`chain`] gives a
//! chain's words. A leaf: it imports nothing of the crate.

/// Whose fault a failure is, which decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The command line, a request or the configuration asks for something wrong.
    Usage,
    /// It names something (a destination, a peer, a snapshot) that does not exist.
    NotFound,
    /// A disk, a store, the network or the machine failed, or photos are not safe.
    Failed,
}

impl Fault {
    /// Every fault, in the order README's table lists them.
    pub const ALL: [Fault; 3] = [Fault::Failed, Fault::Usage, Fault::NotFound];

    /// The exit code of a command that ends with this fault.
    pub fn exit_code(self) -> u8 {
        match self {
            Fault::Failed => 1,
            Fault::Usage | Fault::NotFound => 2,
        }
    }

    /// What it means, as README's table of exit codes says it.
    pub fn meaning(self) -> &'static str {
        match self {
            Fault::Failed => {
                "something failed (each problem is printed, naming the file or the destination); for `ingest`, the card is not yet safe to format"
            }
            Fault::Usage => "bad usage or configuration",
            Fault::NotFound => {
                "it names a destination, peer, library or archive that does not exist"
            }
        }
    }
}

/// An error that knows whose fault it is.
pub trait Classify {
    fn fault(&self) -> Fault;

    /// Whether the command line, a request or the configuration is at fault.
    fn is_usage(&self) -> bool {
        self.fault() != Fault::Failed
    }
}

/// README's table of exit codes, from [`Fault`] (a test keeps README in step).
pub fn exit_code_table() -> String {
    let mut table = String::from("| exit code | meaning |\n|---|---|\n| 0 | all good |\n");
    let mut seen = std::collections::BTreeMap::<u8, Vec<&str>>::new();
    for f in Fault::ALL {
        seen.entry(f.exit_code()).or_default().push(f.meaning());
    }
    for (code, meanings) in seen {
        table.push_str(&format!("| {code} | {} |\n", meanings.join("; ")));
    }
    table
}

/// The words of `error` and of each of its sources, each said once: a lower layer's
/// reason ("connection refused") is often in both a source and its wrapper.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        cause = c.source();
    }
    message
}

#[cfg(test)]
mod tests {
    #[test]
    fn readme_lists_the_exit_codes_of_the_fault_policy() {
        let readme = include_str!("../../../README.md");
        let table = super::exit_code_table();
        assert!(
            readme.contains(&table),
            "README's exit-code table is out of step; it should read:\n{table}"
        );
    }
}
