//! The JSON writer: compact, what `describe` sends as setting defaults.

use std::fmt::{self, Write as _};

use super::Json;

/// Compact JSON (`{"a":[1,"x"]}`) that [`Json::parse`] reads back equal.
impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Json::Null => f.write_str("null"),
            Json::Bool(b) => write!(f, "{b}"),
            Json::Number(n) => f.write_str(n),
            Json::String(s) => write_string(f, s),
            Json::Array(items) => {
                f.write_char('[')?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_char(']')
            }
            Json::Object(members) => {
                f.write_char('{')?;
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    write_string(f, key)?;
                    write!(f, ":{value}")?;
                }
                f.write_char('}')
            }
        }
    }
}

/// RFC 8259 §7: the quote, the backslash and control characters are escaped;
/// everything else goes out as UTF-8.
fn write_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if u32::from(c) < 0x20 => write!(f, "\\u{:04x}", u32::from(c))?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_compact_json_that_reads_back() {
        let doc = r#"{"a":[1,-2.5e3,"x\"y\\z\n\u0001é"],"b":{"c":null,"d":true}}"#;
        let j = Json::parse(doc).unwrap();
        assert_eq!(j.to_string(), doc);
        assert_eq!(Json::parse(&j.to_string()).unwrap(), j);
    }

    #[test]
    fn conversions_build_values() {
        assert_eq!(Json::from(true).to_string(), "true");
        assert_eq!(Json::from(-7i64).to_string(), "-7");
        assert_eq!(Json::from("a\tb").to_string(), r#""a\tb""#);
        assert_eq!(Json::from(vec!["x", "y"]).to_string(), r#"["x","y"]"#);
        assert_eq!(Json::from(Vec::<Json>::new()).to_string(), "[]");
        assert_eq!(Json::Object(Vec::new()).to_string(), "{}");
    }
}
