//! The account import file of `waxwing user add --file`: one `jid password`
//! per line. The password is the rest of the line after the one space (or
//! tab) that ends the JID, with only the line end (`\n`, `\r\n`) stripped:
//! what `user passwd` reads from standard input is kept the same way, so a
//! password with a leading or trailing space means the same in both.

/// One account to create, with the line it came from.
pub struct Entry {
    pub line: usize,
    pub jid: String,
    pub password: String,
}

/// The usable entries and, separately, the lines that could not be read;
/// the good lines are imported even when some are bad.
pub struct Parsed {
    pub entries: Vec<Entry>,
    pub errors: Vec<(usize, String)>,
}

pub fn parse(data: &[u8]) -> Parsed {
    let mut parsed = Parsed { entries: Vec::new(), errors: Vec::new() };
    for (i, raw) in data.split(|b| *b == b'\n').enumerate() {
        let line = i + 1;
        let Ok(text) = std::str::from_utf8(raw) else {
            parsed.errors.push((line, "not valid UTF-8".into()));
            continue;
        };
        // Only the line end goes: spaces are part of the password.
        let text = text.strip_suffix('\r').unwrap_or(text);
        let start = text.trim_start();
        if start.is_empty() || start.starts_with('#') {
            continue;
        }
        match start.split_once([' ', '\t']) {
            Some((jid, password)) if !password.is_empty() => {
                parsed.entries.push(Entry { line, jid: jid.to_owned(), password: password.to_owned() })
            }
            // The lone word may be a password pasted on its own line: keep it out of the message.
            _ => parsed.errors.push((line, "no password: write `jid password`".into())),
        }
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_comments_and_errors() {
        let data = b"# accounts\n\nalice@a.example s3cret\r\n  bob@a.example pass with spaces  \nlonely@a.example\n\xff\xfe x\n\t# indented comment\ncarol@b.example\tp\ndave@b.example  lead\nerin@b.example \r\n";
        let p = parse(data);
        let got: Vec<(usize, &str, &str)> =
            p.entries.iter().map(|e| (e.line, e.jid.as_str(), e.password.as_str())).collect();
        assert_eq!(
            got,
            vec![
                (3, "alice@a.example", "s3cret"),
                (4, "bob@a.example", "pass with spaces  "),
                (8, "carol@b.example", "p"),
                (9, "dave@b.example", " lead"),
            ]
        );
        let lines: Vec<usize> = p.errors.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![5, 6, 10]);
        assert!(p.errors[0].1.contains("no password"));
        assert!(p.errors[1].1.contains("UTF-8"));
    }

    #[test]
    fn empty_input_is_empty() {
        let p = parse(b"");
        assert!(p.entries.is_empty() && p.errors.is_empty());
    }
}
