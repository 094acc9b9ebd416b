//! Source positions of the values in a policy file, keyed by JSON pointer, so that an error
//! found on the parsed `serde_json::Value` can name its line and column. Built by the YAML
//! reader and by a light JSON scanner; no validation happens here.

use std::collections::HashMap;

/// A 1-based line and column (in characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

/// Where a value (and the key naming it, inside an object) starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    key: Option<Pos>,
    value: Pos,
}

/// Positions of the values of one document, by JSON pointer.
#[derive(Clone, Debug, Default)]
pub struct PositionIndex {
    entries: HashMap<String, Entry>,
}

impl PositionIndex {
    /// Records where the value at `pointer` (and its key) starts.
    pub fn insert(&mut self, pointer: String, key: Option<Pos>, value: Pos) {
        self.entries.entry(pointer).or_insert(Entry { key, value });
    }

    /// The position of `pointer`: its key when `at_key` and it has one, else its value. A
    /// pointer that is not in the document (a missing property) falls back to its nearest
    /// ancestor.
    pub fn locate(&self, pointer: &str, at_key: bool) -> Option<Pos> {
        let mut p = pointer;
        loop {
            if let Some(e) = self.entries.get(p) {
                return Some(if at_key {
                    e.key.unwrap_or(e.value)
                } else {
                    e.value
                });
            }
            let cut = p.rfind('/')?;
            p = &p[..cut];
        }
    }
}

/// Escapes one JSON pointer segment (`~` → `~0`, `/` → `~1`).
pub fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// The 1-based line and column of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> Pos {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    Pos { line, column }
}

/// The result of scanning JSON text: positions plus the pointers of duplicated keys (serde_json
/// silently keeps the last one; a policy must not).
#[derive(Debug, Default)]
pub struct JsonScan {
    /// Positions by pointer.
    pub index: PositionIndex,
    /// Pointer and key position of each repeated key.
    pub duplicates: Vec<(String, Pos)>,
}

/// Scans JSON text that serde_json has already accepted and records where each value starts.
/// Stops quietly at anything unexpected (the index is best effort).
pub fn scan_json(text: &str) -> JsonScan {
    let mut s = Scanner {
        bytes: text.as_bytes(),
        text,
        i: 0,
        line: 1,
        line_start: 0,
        out: JsonScan::default(),
    };
    s.skip_ws();
    let start = s.pos();
    let _ = s.value(String::new(), None, start, 0);
    s.out
}

struct Scanner<'a> {
    bytes: &'a [u8],
    text: &'a str,
    i: usize,
    line: usize,
    line_start: usize,
    out: JsonScan,
}

/// Deeper documents are not indexed further (serde_json refuses more than 128 levels anyway).
const MAX_DEPTH: usize = 128;

impl Scanner<'_> {
    fn pos(&self) -> Pos {
        let column = self
            .text
            .get(self.line_start..self.i)
            .map_or(0, |s| s.chars().count())
            + 1;
        Pos {
            line: self.line,
            column,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.i).copied()
    }

    fn bump(&mut self) {
        if self.peek() == Some(b'\n') {
            self.line += 1;
            self.line_start = self.i + 1;
        }
        self.i += 1;
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.bump();
        }
    }

    /// Reads one value starting at the current byte; `None` on anything unexpected.
    fn value(&mut self, ptr: String, key: Option<Pos>, start: Pos, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.out.index.insert(ptr.clone(), key, start);
        match self.peek()? {
            b'{' => {
                self.bump();
                let mut seen = std::collections::HashSet::new();
                loop {
                    self.skip_ws();
                    match self.peek()? {
                        b'}' => {
                            self.bump();
                            return Some(());
                        }
                        b',' => {
                            self.bump();
                            continue;
                        }
                        b'"' => {}
                        _ => return None,
                    }
                    let key_pos = self.pos();
                    let name = self.string()?;
                    self.skip_ws();
                    if self.peek()? != b':' {
                        return None;
                    }
                    self.bump();
                    self.skip_ws();
                    let child = format!("{ptr}/{}", escape(&name));
                    if !seen.insert(name) {
                        self.out.duplicates.push((child.clone(), key_pos));
                    }
                    let vpos = self.pos();
                    self.value(child, Some(key_pos), vpos, depth + 1)?;
                }
            }
            b'[' => {
                self.bump();
                let mut idx = 0usize;
                loop {
                    self.skip_ws();
                    match self.peek()? {
                        b']' => {
                            self.bump();
                            return Some(());
                        }
                        b',' => {
                            self.bump();
                            continue;
                        }
                        _ => {}
                    }
                    let vpos = self.pos();
                    self.value(format!("{ptr}/{idx}"), None, vpos, depth + 1)?;
                    idx += 1;
                }
            }
            b'"' => self.string().map(|_| ()),
            _ => {
                while matches!(self.peek(), Some(c) if !matches!(c, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r'))
                {
                    self.bump();
                }
                Some(())
            }
        }
    }

    /// Reads a string literal and returns its decoded text.
    fn string(&mut self) -> Option<String> {
        let start = self.i;
        self.bump();
        loop {
            match self.peek()? {
                b'\\' => {
                    self.bump();
                    self.bump();
                }
                b'"' => {
                    self.bump();
                    break;
                }
                _ => self.bump(),
            }
        }
        serde_json::from_str(self.text.get(start..self.i)?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_scan_records_value_and_key_positions() {
        let text = "{\n  \"a\": 1,\n  \"b/c\": [true, {\"d\": \"x\"}]\n}";
        let scan = scan_json(text);
        assert_eq!(
            scan.index.locate("/a", false),
            Some(Pos { line: 2, column: 8 })
        );
        assert_eq!(
            scan.index.locate("/a", true),
            Some(Pos { line: 2, column: 3 })
        );
        assert_eq!(
            scan.index.locate("/b~1c/1/d", false),
            Some(Pos {
                line: 3,
                column: 23
            })
        );
        // A missing property falls back to its parent object.
        assert_eq!(
            scan.index.locate("/b~1c/1/zz", false),
            Some(Pos {
                line: 3,
                column: 17
            })
        );
    }

    #[test]
    fn json_scan_reports_duplicate_keys() {
        let scan = scan_json("{\"a\": 1, \"a\": 2}");
        assert_eq!(
            scan.duplicates,
            vec![(
                "/a".to_owned(),
                Pos {
                    line: 1,
                    column: 10
                }
            )]
        );
    }

    #[test]
    fn line_col_counts_characters_not_bytes() {
        assert_eq!(line_col("é\nxé!", 6), Pos { line: 2, column: 3 });
    }
}
