//! YAML 1.2 reader: turns one YAML document into a `serde_json::Value` and records where every
//! value starts (saphyr-parser events carry positions). Rejects what a policy never needs and
//! what would hide mistakes: several documents, duplicate keys, complex keys, unknown tags,
//! deep nesting and alias bombs.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};
use serde_json::{Map, Number, Value};

use crate::error::PolicyError;
use crate::position::{Pos, PositionIndex, escape};

/// Nesting deeper than this is refused (a policy is about five levels deep).
const MAX_DEPTH: usize = 64;
/// Values created by alias expansion and parsing together; more is an alias bomb.
const MAX_NODES: usize = 200_000;

/// A parsed YAML document.
#[derive(Debug)]
pub struct YamlDoc {
    /// The document as JSON data; `None` when the file holds no document.
    pub value: Option<Value>,
    /// Where each value starts.
    pub index: PositionIndex,
    /// Problems that did not stop parsing (duplicate keys, unsupported tags).
    pub errors: Vec<PolicyError>,
}

enum Frame {
    Map {
        ptr: String,
        map: Map<String, Value>,
        key: Option<(String, Pos)>,
        anchor: usize,
    },
    Seq {
        ptr: String,
        items: Vec<Value>,
        anchor: usize,
    },
}

fn pos(span: &Span) -> Pos {
    Pos {
        line: span.start.line(),
        column: span.start.col() + 1,
    }
}

fn syntax(p: Pos, message: impl Into<String>) -> PolicyError {
    PolicyError::new("", "yaml-syntax", message).at(p.line, p.column)
}

/// Parses one YAML document. A syntax error stops parsing and returns every error found so
/// far; duplicate keys and unsupported tags are returned with the document.
pub fn read_yaml(text: &str) -> Result<YamlDoc, Vec<PolicyError>> {
    let mut b = Builder::default();
    let mut parser = Parser::new_from_str(text);
    let mut documents = 0usize;
    while let Some(next) = parser.next_event() {
        let (event, span) = match next {
            Ok(ok) => ok,
            Err(e) => {
                let m = e.marker();
                let p = Pos {
                    line: m.line(),
                    column: m.col() + 1,
                };
                b.errors
                    .push(syntax(p, format!("YAML syntax error: {}", e.info())));
                return Err(b.errors);
            }
        };
        let p = pos(&span);
        match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    b.errors.push(syntax(
                        p,
                        "a policy file holds one YAML document; found a second one",
                    ));
                    return Err(b.errors);
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                if b.awaiting_key() {
                    b.set_key(text.into_owned(), p);
                } else {
                    let ptr = b.start_node(p);
                    match resolve(&text, style, tag.as_deref()) {
                        Ok(v) => b.finish(v, anchor),
                        Err(msg) => {
                            b.errors
                                .push(PolicyError::new(ptr, "yaml-tag", msg).at(p.line, p.column));
                            b.finish(Value::Null, anchor);
                        }
                    }
                }
            }
            Event::Alias(id) => {
                if b.awaiting_key() {
                    b.errors
                        .push(syntax(p, "an alias cannot be used as a mapping key"));
                    return Err(b.errors);
                }
                b.start_node(p);
                let Some(v) = b.anchors.get(&id).cloned() else {
                    b.errors.push(syntax(p, "alias to an unknown anchor"));
                    return Err(b.errors);
                };
                b.nodes += count_nodes(&v);
                if b.nodes > MAX_NODES {
                    b.errors
                        .push(syntax(p, "too many values after alias expansion"));
                    return Err(b.errors);
                }
                b.finish(v, 0);
            }
            Event::MappingStart(anchor, _) | Event::SequenceStart(anchor, _) => {
                if b.awaiting_key() {
                    b.errors
                        .push(syntax(p, "mapping keys must be plain strings"));
                    return Err(b.errors);
                }
                if b.stack.len() >= MAX_DEPTH {
                    b.errors
                        .push(syntax(p, format!("nesting deeper than {MAX_DEPTH} levels")));
                    return Err(b.errors);
                }
                let ptr = b.start_node(p);
                let frame = if matches!(event, Event::MappingStart(..)) {
                    Frame::Map {
                        ptr,
                        map: Map::new(),
                        key: None,
                        anchor,
                    }
                } else {
                    Frame::Seq {
                        ptr,
                        items: Vec::new(),
                        anchor,
                    }
                };
                b.stack.push(frame);
            }
            Event::MappingEnd | Event::SequenceEnd => match b.stack.pop() {
                Some(Frame::Map { map, anchor, .. }) => b.finish(Value::Object(map), anchor),
                Some(Frame::Seq { items, anchor, .. }) => b.finish(Value::Array(items), anchor),
                None => {}
            },
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
        if b.nodes > MAX_NODES {
            b.errors.push(syntax(p, "too many values"));
            return Err(b.errors);
        }
    }
    Ok(YamlDoc {
        value: b.root,
        index: b.index,
        errors: b.errors,
    })
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Value>,
    anchors: HashMap<usize, Value>,
    index: PositionIndex,
    errors: Vec<PolicyError>,
    nodes: usize,
}

impl Builder {
    fn awaiting_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Map { key: None, .. }))
    }

    fn set_key(&mut self, key: String, p: Pos) {
        if let Some(Frame::Map {
            ptr,
            map,
            key: slot,
            ..
        }) = self.stack.last_mut()
        {
            if map.contains_key(&key) {
                self.errors.push(
                    PolicyError::new(
                        format!("{ptr}/{}", escape(&key)),
                        "duplicate-key",
                        "duplicate key",
                    )
                    .found(format!("\"{key}\" a second time"))
                    .at(p.line, p.column),
                );
            }
            *slot = Some((key, p));
        }
    }

    /// Records the position of the node that starts here and returns its pointer.
    fn start_node(&mut self, p: Pos) -> String {
        self.nodes += 1;
        let (ptr, key) = match self.stack.last() {
            Some(Frame::Map {
                ptr,
                key: Some((k, kp)),
                ..
            }) => (format!("{ptr}/{}", escape(k)), Some(*kp)),
            Some(Frame::Seq { ptr, items, .. }) => (format!("{ptr}/{}", items.len()), None),
            _ => (String::new(), None),
        };
        self.index.insert(ptr.clone(), key, p);
        ptr
    }

    /// Attaches a finished value to its parent (or makes it the document).
    fn finish(&mut self, v: Value, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, v.clone());
        }
        match self.stack.last_mut() {
            Some(Frame::Map { map, key, .. }) => {
                if let Some((k, _)) = key.take() {
                    map.insert(k, v);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(v),
            None => self.root = Some(v),
        }
    }
}

fn count_nodes(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(count_nodes).sum::<usize>(),
        Value::Object(o) => 1 + o.values().map(count_nodes).sum::<usize>(),
        _ => 1,
    }
}

/// Resolves a scalar with the YAML 1.2 core schema (so `yes`, `on` and `no` stay strings).
fn resolve(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    if let Some(tag) = tag {
        let core = tag.is_yaml_core_schema();
        return match (core, tag.suffix.as_str()) {
            (true, "str") => Ok(Value::String(text.to_owned())),
            (true, "null") => plain(text)
                .filter(Value::is_null)
                .ok_or_else(|| format!("\"{text}\" is not a null")),
            (true, "bool") => plain(text)
                .filter(Value::is_boolean)
                .ok_or_else(|| format!("\"{text}\" is not a boolean")),
            (true, "int") => plain(text)
                .filter(|v| v.is_i64() || v.is_u64())
                .ok_or_else(|| format!("\"{text}\" is not an integer")),
            (true, "float") => plain(text)
                .filter(Value::is_number)
                .ok_or_else(|| format!("\"{text}\" is not a number")),
            (true, other) => Err(format!("unsupported YAML tag !!{other}")),
            (false, other) => Err(format!("unsupported YAML tag {}{other}", tag.handle)),
        };
    }
    if style != ScalarStyle::Plain {
        return Ok(Value::String(text.to_owned()));
    }
    Ok(plain(text).unwrap_or_else(|| Value::String(text.to_owned())))
}

/// The core-schema value of a plain scalar, `None` when it is a string.
fn plain(text: &str) -> Option<Value> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Some(Value::Null),
        "true" | "True" | "TRUE" => return Some(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Value::Bool(false)),
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()) {
        if let Ok(i) = text.parse::<i64>() {
            return Some(Value::Number(i.into()));
        }
        if let Ok(u) = text.trim_start_matches('+').parse::<u64>() {
            return Some(Value::Number(u.into()));
        }
        return text
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number);
    }
    if let Some(oct) = text.strip_prefix("0o") {
        return u64::from_str_radix(oct, 8)
            .ok()
            .map(|u| Value::Number(u.into()));
    }
    if let Some(hex) = text.strip_prefix("0x") {
        return u64::from_str_radix(hex, 16)
            .ok()
            .map(|u| Value::Number(u.into()));
    }
    if is_float(digits) {
        return text
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number);
    }
    None
}

/// `(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?` (sign already removed).
fn is_float(s: &str) -> bool {
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            (!int.is_empty() || !frac.is_empty())
                && int.bytes().all(|c| c.is_ascii_digit())
                && frac.bytes().all(|c| c.is_ascii_digit())
                && !(int.is_empty() && frac.is_empty())
        }
        None => !mantissa.is_empty() && mantissa.bytes().all(|c| c.is_ascii_digit()),
    };
    let exp_ok = exp.is_none_or(|e| {
        let d = e.strip_prefix(['-', '+']).unwrap_or(e);
        !d.is_empty() && d.bytes().all(|c| c.is_ascii_digit())
    });
    mantissa_ok && exp_ok && mantissa != "."
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn value(text: &str) -> Value {
        read_yaml(text).unwrap().value.unwrap()
    }

    #[test]
    fn scalars_follow_the_yaml_1_2_core_schema() {
        let v =
            value("a: yes\nb: on\nc: true\nd: 012\ne: 1.5\nf: ~\ng: '7'\nh: 0x1F\ni: 1e3\nj: .5\n");
        assert_eq!(
            v,
            json!({"a": "yes", "b": "on", "c": true, "d": 12, "e": 1.5, "f": null, "g": "7",
                   "h": 31, "i": 1000.0, "j": 0.5})
        );
    }

    #[test]
    fn positions_are_recorded_for_keys_and_values() {
        let doc = read_yaml("name: x\nselection:\n  include:\n    - names: [\"a*\", b]\n").unwrap();
        let at = |p: &str, k: bool| doc.index.locate(p, k).map(|p| (p.line, p.column));
        assert_eq!(at("/name", false), Some((1, 7)));
        assert_eq!(at("/name", true), Some((1, 1)));
        assert_eq!(at("/selection/include/0/names/1", false), Some((4, 21)));
        assert_eq!(at("/selection/include/0/names", true), Some((4, 7)));
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let errs = read_yaml("a: 1\nb: 2\na: 3\n").unwrap().errors;
        assert_eq!(errs[0].code, "duplicate-key");
        assert_eq!((errs[0].path.as_str(), errs[0].line), ("/a", Some(3)));
    }

    #[test]
    fn anchors_and_aliases_expand() {
        assert_eq!(
            value("a: &x [1, 2]\nb: *x\n"),
            json!({"a": [1, 2], "b": [1, 2]})
        );
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let errs = read_yaml(&text).unwrap_err();
        assert!(errs[0].message.contains("alias"), "{errs:?}");
    }

    #[test]
    fn a_second_document_is_refused() {
        let errs = read_yaml("a: 1\n---\nb: 2\n").unwrap_err();
        assert!(errs[0].message.contains("second"), "{errs:?}");
    }

    #[test]
    fn deep_nesting_is_refused_without_overflowing_the_stack() {
        let text = "[".repeat(100_000);
        assert!(read_yaml(&text).is_err());
    }
}
