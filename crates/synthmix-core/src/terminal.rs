//! Text from files (class and dataset names come from folder names and CSV
//! cells anyone can write) made safe to print: a control character would let
//! a name move the cursor, recolour or clear the screen (ESC), or forge a
//! line of its own (newline). Every such character is shown escaped, the rest
//! of the text as it is.

use std::borrow::Cow;

/// Whether `c` may not reach a terminal raw: C0, DEL and C1 controls, the
/// bidirectional overrides that reorder what is shown (U+202A–202E,
/// U+2066–2069, and the marks U+061C, U+200E, U+200F), the line and
/// paragraph separators (U+2028, U+2029) that some terminals break at, and
/// the invisible format characters (soft hyphen, zero-width space, joiners,
/// word joiner, BOM, interlinear annotations) that make two names differing
/// only by them look the same.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00ad}'
                | '\u{061c}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
        )
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

/// Characters of one word (a path, a value) an error line keeps whole:
/// longer than any real path, far shorter than a value that floods a terminal.
pub const LONG_WORD_CHARS: usize = 1000;
/// Characters an error line keeps of its start and of its end once it is
/// longer than both together (the problem is usually said at the end).
const LINE_HEAD_CHARS: usize = 3000;
const LINE_TAIL_CHARS: usize = 1000;

/// An error line with every word longer than [`LONG_WORD_CHARS`] clipped as
/// [`clip`] does, and then, if still long, only its start and end: whatever
/// echoed a value (an environment variable, a file name, a flag), the line
/// stays readable. Borrowed when nothing is cut.
pub fn clip_line(line: &str) -> Cow<'_, str> {
    let long = |w: &str| w.chars().nth(LONG_WORD_CHARS).is_some();
    let mut out = Cow::Borrowed(line);
    if line.split(' ').any(long) {
        let words: Vec<Cow<str>> = line.split(' ').map(|w| if long(w) { clip(w) } else { Cow::Borrowed(w) }).collect();
        out = Cow::Owned(words.join(" "));
    }
    let n = out.chars().count();
    if n <= LINE_HEAD_CHARS + LINE_TAIL_CHARS {
        return out;
    }
    let head: String = out.chars().take(LINE_HEAD_CHARS).collect();
    let tail: String = out.chars().skip(n - LINE_TAIL_CHARS).collect();
    Cow::Owned(format!("{head} … ({} characters cut) … {tail}", n - LINE_HEAD_CHARS - LINE_TAIL_CHARS))
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
        // Invisible characters: two names differing only by one look alike raw.
        assert_eq!(escape("a\u{200b}"), "a\\u{200b}");
        assert_eq!(escape("\u{feff}l\u{2028}s\u{ad}"), "\\u{feff}l\\u{2028}s\\u{ad}");
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
    fn error_lines_clip_long_words_and_keep_both_ends() {
        assert!(matches!(clip_line("x: not found"), Cow::Borrowed(_)));
        let path = format!("/{}", "d".repeat(100_000));
        let full = format!("{path}: data dir does not exist");
        let line = clip_line(&full);
        assert!(line.len() < 300 && line.ends_with("… (100002 bytes) data dir does not exist"), "{line}");
        let spaced = format!("start {} end", "ab ".repeat(10_000));
        let line = clip_line(&spaced);
        assert!(line.len() < 4200 && line.starts_with("start ab") && line.ends_with("ab  end"), "{line}");
        assert!(line.contains("characters cut"), "{line}");
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
