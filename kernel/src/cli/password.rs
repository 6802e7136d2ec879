//! Reading a password from standard input: piped, one line; typed at a
//! terminal, prompted for twice with echo off.

use std::io::BufRead;

use anyhow::{Context as _, bail};

pub fn read(jid: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    if !is_terminal() {
        return from_reader(&mut input);
    }
    eprint!("Password for {jid}: ");
    let first = without_echo(|| from_reader(&mut input))?;
    eprint!("Again: ");
    let second = without_echo(|| from_reader(&mut input))?;
    if first != second {
        bail!("the two passwords differ");
    }
    Ok(first)
}

/// One line, without its line ending; an empty one is refused.
pub fn from_reader(input: &mut impl BufRead) -> anyhow::Result<String> {
    let mut line = String::new();
    input.read_line(&mut line).context("reading the password from standard input")?;
    let password = line.strip_suffix('\n').map_or(line.as_str(), |l| l.strip_suffix('\r').unwrap_or(l));
    if password.is_empty() {
        bail!("no password given: pass it after the JID or on standard input");
    }
    Ok(password.to_owned())
}

fn is_terminal() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stdin())
}

/// Runs `f` with terminal echo off, restoring it afterwards. If the terminal
/// settings cannot be read, `f` runs with echo on rather than failing.
fn without_echo<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: termios is plain old data; tcgetattr fills it in or fails.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: fd 0 and a valid pointer to a termios.
    if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut saved) } != 0 {
        return f();
    }
    let mut quiet = saved;
    quiet.c_lflag &= !libc::ECHO;
    // SAFETY: as above, with settings derived from the terminal's own.
    unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &quiet) };
    let out = f();
    // SAFETY: restores the settings read above.
    unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &saved) };
    eprintln!();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_without_its_ending() {
        assert_eq!(from_reader(&mut &b"p4ss word\r\nnext\n"[..]).unwrap(), "p4ss word");
        assert_eq!(from_reader(&mut &b"last"[..]).unwrap(), "last");
        for empty in [&b""[..], b"\n", b"\r\n"] {
            let err = from_reader(&mut &empty[..]).unwrap_err().to_string();
            assert!(err.contains("no password"), "{err}");
        }
    }
}
