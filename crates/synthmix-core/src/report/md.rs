//! Markdown written in one place: every table of every report goes through
//! [`Table`], and names inside prose through [`text`]. Dataset and class
//! names come from users' folder names and CSV cells, so a cell is escaped
//! here, never by its caller: a `|` or a newline cannot split a row, and a
//! `<` or `&` that could start markup is an entity, so no viewer renders a
//! name as HTML.

use std::fmt::Write as _;

/// Text for Markdown prose or headings: every `<` or `&` that could open
/// markup (a tag, comment, autolink or entity: `<` before a letter, `/`,
/// `!`, `?`; `&` before a letter, digit or `#`) as an entity, so a name is
/// shown as written and never rendered as HTML, while the report's own
/// `< 0.5` and `> 0` stay readable; control characters (a newline ends a
/// heading or a row) shown escaped.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        let next = chars.peek().copied().unwrap_or(' ');
        match c {
            '<' if next.is_alphabetic() || matches!(next, '/' | '!' | '?') => out.push_str("&lt;"),
            '&' if next.is_alphanumeric() || next == '#' => out.push_str("&amp;"),
            _ => out.push(c),
        }
    }
    crate::terminal::escape(&out).into_owned()
}

/// Markdown as the text a reader sees (entities and escapes decoded, markup
/// dropped): a heading written by [`text`] reads back as the name itself.
pub fn plain(md: &str) -> String {
    use pulldown_cmark::{Event, Parser};
    let mut s = String::new();
    for e in Parser::new(md.trim()) {
        if let Event::Text(t) | Event::Code(t) | Event::Html(t) | Event::InlineHtml(t) = e {
            s.push_str(&t);
        }
    }
    s
}

/// One table cell: [`text`], the backslash doubled first (or `a\|` would
/// turn the escaped pipe back into a column break), `|` escaped, and the
/// ends trimmed (a table trims them anyway; kept, they hide in diffs).
/// Markup the report itself writes (`**`, backticks, links) passes through.
pub fn cell(s: &str) -> String {
    let s = s.trim().replace('\\', "\\\\").replace('|', "\\|");
    text(&s)
}

/// A Markdown table: a header, each column left- or right-aligned, rows of
/// cells that [`Table::render`] escapes.
#[derive(Debug, Clone)]
pub struct Table {
    head: Vec<String>,
    right: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// `align` has one letter a column: `l` left, `r` right (numbers).
    pub fn new<S: Into<String>>(head: impl IntoIterator<Item = S>, align: &str) -> Table {
        let head: Vec<String> = head.into_iter().map(Into::into).collect();
        debug_assert_eq!(head.len(), align.len(), "one alignment letter a column");
        let right = (0..head.len()).map(|k| align.as_bytes().get(k) == Some(&b'r')).collect();
        Table { head, right, rows: Vec::new() }
    }

    /// Adds a row; a row shorter than the header is padded with empty cells
    /// (a longer one is a bug, cut in release builds) so every row keeps the
    /// table's column count.
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        let mut r: Vec<String> = cells.into_iter().map(Into::into).collect();
        debug_assert!(r.len() <= self.head.len(), "{} cells for {} columns", r.len(), self.head.len());
        r.resize(self.head.len(), String::new());
        self.rows.push(r);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The header, the alignment line and the rows, each line ending in `\n`.
    pub fn render(&self) -> String {
        let mut s = line(&self.head);
        s.push('|');
        for &r in &self.right {
            s.push_str(if r { "---:|" } else { "---|" });
        }
        s.push('\n');
        for r in &self.rows {
            s.push_str(&line(r));
        }
        s
    }
}

/// `| a | b |` (an empty cell as `| |`).
fn line(cells: &[String]) -> String {
    let mut s = String::from("|");
    for c in cells {
        let c = cell(c);
        if c.is_empty() {
            s.push_str(" |");
        } else {
            let _ = write!(s, " {c} |");
        }
    }
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cells of a rendered row, split at unescaped pipes as GFM does.
    fn split(row: &str) -> Vec<String> {
        let (mut cells, mut cur, mut esc) = (Vec::new(), String::new(), false);
        for c in row.trim().trim_start_matches('|').chars() {
            match (esc, c) {
                (false, '\\') => esc = true,
                (false, '|') => cells.push(std::mem::take(&mut cur)),
                _ => {
                    esc = false;
                    cur.push(c);
                }
            }
        }
        cells
    }

    /// Class names that differ only by an invisible character (a zero-width
    /// space, a bidi override) are told apart in every table and heading.
    #[test]
    fn invisible_characters_are_shown_escaped() {
        assert_eq!(cell("a\u{200b}"), "a\\u{200b}");
        assert_eq!(text("x\u{202e}y"), "x\\u{202e}y");
        assert_ne!(cell("a"), cell("a\u{200b}"));
    }

    #[test]
    fn hostile_cells_keep_the_column_count_and_carry_no_markup() {
        let hostile = [
            "a|b",
            "two\nlines",
            "x\\",
            "x\\|y",
            "<img src=x onerror=alert(1)>",
            "&amp; \"q\"",
            "  padded  ",
            "\u{1b}[31mred",
            "[target.x]\ncommand = \"rm\"",
            "",
        ];
        let mut t = Table::new(["name", "n", "after"], "lrl");
        for h in hostile {
            t.row([h, "1", "end"]);
        }
        let md = t.render();
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines.len(), hostile.len() + 2, "{md}");
        assert_eq!(lines[1], "|---|---:|---|");
        for (l, h) in lines[2..].iter().zip(hostile) {
            let cells = split(l);
            assert_eq!(cells.len(), 3, "{h:?} → {l}");
            assert_eq!((cells[1].trim(), cells[2].trim()), ("1", "end"), "{l}");
            assert!(!cells[0].contains("<i"), "{l}");
            assert!(!cells[0].chars().any(char::is_control), "{l}");
        }
        assert!(md.contains("| a\\|b |") && md.contains("| padded |") && md.contains("| &lt;img src=x"), "{md}");
        assert!(md.contains("| x\\\\ |") && md.contains("| x\\\\\\|y |"), "{md}");
    }

    #[test]
    fn plain_cells_are_written_as_they_are() {
        let mut t = Table::new(["Dataset", "Ours"], "lr");
        t.row(["MNIST", "0.9812 ± 0.0010 (n=3)"]);
        t.row(["**holds**", ""]);
        t.row(["short"]);
        assert_eq!(
            t.render(),
            "| Dataset | Ours |\n|---|---:|\n| MNIST | 0.9812 ± 0.0010 (n=3) |\n| **holds** | |\n| short | |\n"
        );
        assert_eq!(text("ds<b>\nx & y &amp; <!-- </i> <?"), "ds&lt;b>\\nx & y &amp;amp; &lt;!-- &lt;/i> &lt;?");
        assert_eq!(text("> 0.5, < 0.5, a<-b"), "> 0.5, < 0.5, a<-b");
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(300))]

        /// Any cell text: the row keeps its column count, the text after the
        /// hostile cell is intact, and no `<` that could open a tag is left.
        #[test]
        fn any_cell_keeps_the_row(name in "(\\PC|[|\\\\<>&\"\\n\\r\\t\u{1b}\\[\\] ]){0,24}") {
            let mut t = Table::new(["name", "n"], "lr");
            t.row([name.as_str(), "7"]);
            let md = t.render();
            let row = md.lines().nth(2).unwrap_or_default();
            let cells = split(row);
            proptest::prop_assert_eq!(md.lines().count(), 3, "{}", md);
            proptest::prop_assert_eq!(cells.len(), 2, "{}", row);
            proptest::prop_assert_eq!(cells[1].trim(), "7");
            let opens = row.as_bytes().windows(2).any(|w| w[0] == b'<' && (w[1].is_ascii_alphabetic() || b"/!?".contains(&w[1])));
            proptest::prop_assert!(!opens, "{}", row);
        }
    }
}
