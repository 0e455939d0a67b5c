//! report.md of a typed document (the regimes and strategies studies'):
//! the `# ` title, the intro, each section's `## ` heading and blocks. A
//! table is followed by a blank line; prose is printed as the study wrote
//! it, so the bytes are those the studies printed before they built a
//! document.

use crate::report::document::{Block, Document, Figure, Section, Table};
use crate::report::md;

/// The whole report.md.
pub fn document(d: &Document) -> String {
    let title = d.title_md.clone().unwrap_or_else(|| md::text(&d.title));
    let mut s = format!("# {title}\n\n{}", blocks(&d.intro));
    for sec in &d.sections {
        s.push_str(&section(sec));
    }
    s
}

/// `## title`, a blank line, the blocks.
pub fn section(sec: &Section) -> String {
    format!("## {}\n\n{}", md::text(&sec.title), blocks(&sec.blocks))
}

pub fn blocks(b: &[Block]) -> String {
    b.iter().map(block).collect()
}

pub fn block(b: &Block) -> String {
    match b {
        Block::Prose(s) | Block::Quoted(s) => s.clone(),
        Block::Table(t) => format!("{}\n", table(t)),
        Block::Figure(f) => figure(f),
        Block::Strip(_) => String::new(),
    }
}

/// The table through [`md::Table`], which escapes every cell.
pub fn table(t: &Table) -> String {
    t.markdown()
}

/// `![alt](file)`, a blank line, the caption (if any) and a blank line.
fn figure(f: &Figure) -> String {
    let mut s = format!("![{}]({})\n\n", md::text(&f.alt), f.file);
    if !f.caption.is_empty() {
        s.push_str(&f.caption);
        s.push_str("\n\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::document::Cell;
    use crate::report::stats::Verdict;

    #[test]
    fn every_block_as_report_md_prints_it() {
        let mut t = Table::new(["arm", "accuracy", "verdict"], "lrl");
        t.row([Cell::text("a|b"), Cell::number("0.9000 ± 0.0100 (n=3)", 0.9), Cell::verdict(Verdict::Better)]);
        t.row([Cell::text("short")]);
        let mut s = Section::new("Scarce: <b>");
        s.prose("Intro.\n\n");
        s.table(t);
        s.figure(Figure { alt: "x <y".into(), file: "f.png".into(), caption: "Lines.".into() });
        s.figure(Figure { alt: "z".into(), file: "g.png".into(), caption: String::new() });
        let mut d = Document::titled("T <i>", &["a\nnote".into()]);
        d.sections.push(s);
        assert_eq!(
            document(&d),
            "# T &lt;i>\n\n> a\\nnote\n\n## Scarce: &lt;b>\n\nIntro.\n\n| arm | accuracy | verdict |\n|---|---:|---|\n\
             | a\\|b | 0.9000 ± 0.0100 (n=3) | better |\n| short | | |\n\n![x &lt;y](f.png)\n\nLines.\n\n![z](g.png)\n\n"
        );
        d.title_md = Some("T &amp; kept".into());
        assert!(document(&d).starts_with("# T &amp; kept\n\n> a"), "a rebuilt report's title line, verbatim");
    }
}
