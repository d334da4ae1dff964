//! The CLI's output. `println!` panics when stdout is closed (`daas config schema | head`
//! closes it after ten lines); here a closed stdout ends the command quietly, with the
//! status a shell reports for a Unix tool that SIGPIPE ended, and a closed stderr is no
//! reason to fail at all.

use std::io::{self, Write};

/// What a shell reports for a process ended by SIGPIPE (128 + 13): a pipeline under
/// `set -o pipefail` sees the command did not finish, as it would for `cat`.
pub const EXIT_CLOSED_STDOUT: i32 = 141;

/// A line on stdout (for the [`outln!`] macro).
pub fn line(args: std::fmt::Arguments<'_>) {
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        closed(e)
    }
}

/// Bytes on stdout, flushed.
pub fn bytes(data: &[u8]) {
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_all(data).and_then(|()| out.flush()) {
        closed(e)
    }
}

fn closed(e: io::Error) -> ! {
    if e.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(EXIT_CLOSED_STDOUT)
    }
    let _ = writeln!(io::stderr(), "daas: cannot write to stdout: {e}; check where the output goes (a full disk?)");
    std::process::exit(1)
}

/// `println!` for the CLI's output: see the module.
macro_rules! outln {
    ($($arg:tt)*) => { $crate::output::line(format_args!($($arg)*)) };
}

/// `eprintln!` that does not panic when stderr is closed.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
