//! Text from files (class and dataset names come from folder names and CSV
//! cells anyone can write) made safe to print: a control character would let
//! a name move the cursor, recolour or clear the screen (ESC), or forge a
//! line of its own (newline). Every such character is shown escaped, the rest
//! of the text as it is.

use std::borrow::Cow;

/// Whether `c` may not reach a terminal raw: C0, DEL and C1 controls, and the
/// bidirectional overrides that reorder what is shown (U+202A–202E,
/// U+2066–2069, and the marks U+061C, U+200E, U+200F).
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every unsafe character written as Rust writes it escaped
/// (`\n`, `\t`, `\u{1b}`, …); borrowed when there is none.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.chars().map(|c| if is_unsafe(c) { c.escape_default().to_string() } else { c.to_string() }).collect())
}

/// The characters of one value (a spec's parameter, name, path or
/// command) an error line echoes.
pub const ECHO_CHARS: usize = 120;

/// A value from a file as an error line echoes it: its first
/// [`ECHO_CHARS`] characters, then `… (N bytes)`, so a 100 MB value never
/// makes a 100 MB line; borrowed when it is short.
pub fn clip(s: &str) -> Cow<'_, str> {
    match s.char_indices().nth(ECHO_CHARS) {
        None => Cow::Borrowed(s),
        Some((cut, _)) => Cow::Owned(format!("{}… ({} bytes)", &s[..cut], s.len())),
    }
}

/// JSON text from serde_json (inside strings every C0 control is escaped
/// already, so a raw newline, tab or CR is the layout's) with the unsafe
/// characters serde_json leaves raw (DEL, C1, bidi) written as `\u` escapes of four hex digits: it
/// stays valid JSON. Every unsafe character is in the Basic Multilingual Plane.
pub fn escape_json(json: &str) -> Cow<'_, str> {
    let unsafe_in_json = |c: char| is_unsafe(c) && !matches!(c, '\n' | '\t' | '\r');
    if !json.chars().any(unsafe_in_json) {
        return Cow::Borrowed(json);
    }
    let escaped = |c: char| if unsafe_in_json(c) { format!("\\u{:04x}", u32::from(c)) } else { c.to_string() };
    Cow::Owned(json.chars().map(escaped).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_escaped() {
        assert!(matches!(escape("cat ñ 猫"), Cow::Borrowed("cat ñ 猫")));
        assert_eq!(escape("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(escape("x\ny\tz\r"), "x\\ny\\tz\\r");
        assert_eq!(escape("\u{7f}\u{9b}31m"), "\\u{7f}\\u{9b}31m");
        assert_eq!(escape("evil\u{202e}gnp.exe"), "evil\\u{202e}gnp.exe");
        assert!(!escape("\u{0}\u{8}\u{1b}\u{85}\u{2066}").chars().any(is_unsafe));
    }

    #[test]
    fn long_values_are_clipped() {
        assert!(matches!(clip("short"), Cow::Borrowed("short")));
        let long = "é".repeat(10_000);
        let c = clip(&long);
        assert!(c.chars().count() < ECHO_CHARS + 20 && c.ends_with("… (20000 bytes)"), "{c}");
        assert_eq!(clip(&"x".repeat(ECHO_CHARS)), "x".repeat(ECHO_CHARS));
    }

    #[test]
    fn json_stays_json() {
        let v = serde_json::json!({ "name": "a\u{1b}b\u{9b}c\u{7f}\u{202e}d\n" });
        let text = serde_json::to_string_pretty(&v).unwrap();
        let safe = escape_json(&text);
        assert!(!safe.chars().any(|c| is_unsafe(c) && c != '\n'), "{safe}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&safe).unwrap(), v);
    }
}
