//! WHM API 1's generic list parameters, applied once for every operation that declares where its list is
//! ([`Operation::LIST`](crate::whm::Operation::LIST)): `api.filter.*`, then `api.sort.*`, then `api.chunk.*`, then
//! `api.columns.*`, with `metadata` reporting what was applied in the shape WHM gives it.
//!
//! - `api.filter.enable=1` with `api.filter.<letter>.field`, `.arg0` and `.type` (default `contains`) for each of
//!   the letters `a`, `b`, …: a record is kept when every filter matches. The field `*` matches any of a record's
//!   returns. String types (`contains`, `begins`, `ends` ignore case; `eq` is exact) and numeric types (`==`, `lt`,
//!   `lt_equal`, `gt`, `gt_equal`, and `lt_handle_unlimited`/`gt_handle_unlimited`, which read `unlimited` as
//!   larger than any number). `metadata.filter` = `{"filtered": <records kept>}`.
//! - `api.sort.enable=1` with `api.sort.<letter>.field`, `.method` (`lexicographic`, the default, `numeric`,
//!   `numeric_zero_as_max`, `ipv4`) and `.reverse`: the first letter decides, the next ones break ties.
//!   WHM reports nothing about a sort in `metadata`.
//! - `api.chunk.enable=1` with `api.chunk.size` (required, at least 1) and `api.chunk.start` (1-indexed, default 1):
//!   `metadata.chunk` = `{"start", "size", "records" (after filtering), "chunks" (pages), "current" (this page)}`,
//!   the keys cPanel's own JavaScript client reads.
//! - `api.columns.enable=1` with `api.columns.<letter>` naming each return kept; a sort key must be one of them.
//!
//! A list of names (e.g. `listresellers`' `data.reseller`) has one return per record, named after the list
//! (`reseller`). A list written as an object keyed by name (`api_token_list`'s `data.tokens`,
//! `list_configclusterservers`' `data`) stays an object keyed by name: its members are the records, filtered, sorted
//! and paged in name order unless sorted otherwise, so the sort decides which members a page holds; the page's members
//! are then written as an object, whose member order JSON does not carry.
//! A bad value (an unknown type or method, a size of 0, a field no record has) is a failed call naming the parameter.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde_json::{Map, Value, json};

use crate::whm::{Params, WhmError};

/// Where an operation's list is in its `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    /// `data.<key>`: an array of records (objects or names), or an object keyed by name.
    Under(&'static str),
    /// `data` itself is an object keyed by name.
    Data,
}

impl List {
    /// The list inside an answer's `data`, if it is there.
    pub fn locate(self, data: &Value) -> Option<&Value> {
        match self {
            List::Under(key) => data.get(key),
            List::Data => Some(data),
        }
    }

    fn locate_mut(self, data: &mut Value) -> Option<&mut Value> {
        match self {
            List::Under(key) => data.get_mut(key),
            List::Data => Some(data),
        }
    }

    /// The name of the one return of a record that is a bare value (a name in a list of names).
    fn scalar_field(self) -> Option<&'static str> {
        match self {
            List::Under(key) => Some(key),
            List::Data => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Match {
    Contains,
    Begins,
    Ends,
    Eq,
    NumEq,
    Lt,
    LtEqual,
    Gt,
    GtEqual,
    LtUnlimited,
    GtUnlimited,
}

const MATCH_TYPES: &str = "contains, begins, ends, eq, ==, lt, lt_equal, lt_handle_unlimited, gt, gt_equal or \
                           gt_handle_unlimited";

impl Match {
    fn parse(s: &str) -> Option<Match> {
        Some(match s {
            "contains" => Match::Contains,
            "begins" => Match::Begins,
            "ends" => Match::Ends,
            "eq" => Match::Eq,
            "==" => Match::NumEq,
            "lt" => Match::Lt,
            "lt_equal" => Match::LtEqual,
            "gt" => Match::Gt,
            "gt_equal" => Match::GtEqual,
            "lt_handle_unlimited" => Match::LtUnlimited,
            "gt_handle_unlimited" => Match::GtUnlimited,
            _ => return None,
        })
    }

    fn numeric(self) -> bool {
        !matches!(self, Match::Contains | Match::Begins | Match::Ends | Match::Eq)
    }
}

#[derive(Debug)]
struct Filter {
    param: String,
    field: String,
    kind: Match,
    arg0: String,
    /// `arg0` as a number, for the numeric types.
    number: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Lexicographic,
    Numeric,
    NumericZeroAsMax,
    Ipv4,
}

#[derive(Debug)]
struct Sort {
    param: String,
    field: String,
    method: Method,
    reverse: bool,
}

#[derive(Debug)]
struct Chunk {
    start: usize,
    size: usize,
}

/// The generic parameters a call asked for.
#[derive(Debug, Default)]
struct Asked {
    filters: Option<Vec<Filter>>,
    sorts: Option<Vec<Sort>>,
    chunk: Option<Chunk>,
    /// Each column's parameter and the return it names, in letter order.
    columns: Option<Vec<(String, String)>>,
}

/// A letter of WHM's numbering: `a` … `z`, then `za` … `zz`, `zza`, … (any `z`s and one letter; in string order,
/// which is their order). `enable` and `verbose` are not letters.
fn is_letter(s: &str) -> bool {
    let b = s.as_bytes();
    b.split_last()
        .is_some_and(|(last, zs)| last.is_ascii_lowercase() && zs.iter().all(|&c| c == b'z'))
}

/// `<prefix>.<letter>.<prop>` values by letter, in letter order.
fn lettered<'a>(params: &'a Params, prefix: &str) -> BTreeMap<&'a str, BTreeMap<&'a str, &'a str>> {
    let mut out: BTreeMap<&str, BTreeMap<&str, &str>> = BTreeMap::new();
    for (k, v) in params.iter() {
        let Some(rest) = k.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')) else {
            continue;
        };
        if let Some((letter, prop)) = rest.split_once('.')
            && is_letter(letter)
        {
            // The last value of a repeated parameter wins, as everywhere else.
            out.entry(letter).or_default().insert(prop, v);
        }
    }
    out
}

fn number(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

fn whole(params: &Params, name: &str) -> Result<Option<usize>, WhmError> {
    params
        .get(name)
        .map(|v| {
            v.trim().parse::<usize>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                WhmError::new(format!(
                    "Invalid value for {name}: \"{}\" is not a whole number of at least 1.",
                    v.escape_debug()
                ))
            })
        })
        .transpose()
}

fn enabled(params: &Params, name: &str) -> Result<bool, WhmError> {
    Ok(params.flag(name)?.unwrap_or(false))
}

impl Asked {
    fn read(params: &Params) -> Result<Asked, WhmError> {
        let mut asked = Asked::default();
        if enabled(params, "api.filter.enable")? {
            let mut filters = Vec::new();
            for (letter, props) in lettered(params, "api.filter") {
                let p = |prop: &str| format!("api.filter.{letter}.{prop}");
                let field = props
                    .get("field")
                    .ok_or_else(|| WhmError::new(format!("Missing parameter: {}", p("field"))))?;
                let arg0 = props
                    .get("arg0")
                    .ok_or_else(|| WhmError::new(format!("Missing parameter: {}", p("arg0"))))?;
                let kind = match props.get("type") {
                    None => Match::Contains,
                    Some(t) => Match::parse(t).ok_or_else(|| {
                        WhmError::new(format!(
                            "Invalid value for {}: \"{}\" is not a filter type ({MATCH_TYPES}).",
                            p("type"),
                            t.escape_debug()
                        ))
                    })?,
                };
                let parsed = number(arg0);
                if kind.numeric() && parsed.is_none() {
                    return Err(WhmError::new(format!(
                        "Invalid value for {}: \"{}\" is not a number, as the filter type \"{}\" needs.",
                        p("arg0"),
                        arg0.escape_debug(),
                        props.get("type").copied().unwrap_or_default()
                    )));
                }
                filters.push(Filter {
                    param: p("field"),
                    field: (*field).to_owned(),
                    kind,
                    arg0: (*arg0).to_owned(),
                    number: parsed.unwrap_or(0.0),
                });
            }
            asked.filters = Some(filters);
        }
        if enabled(params, "api.sort.enable")? {
            let mut sorts = Vec::new();
            for (letter, props) in lettered(params, "api.sort") {
                let p = |prop: &str| format!("api.sort.{letter}.{prop}");
                let field = props
                    .get("field")
                    .ok_or_else(|| WhmError::new(format!("Missing parameter: {}", p("field"))))?;
                let method = match props.get("method").copied() {
                    None | Some("lexicographic") => Method::Lexicographic,
                    Some("numeric") => Method::Numeric,
                    Some("numeric_zero_as_max") => Method::NumericZeroAsMax,
                    Some("ipv4") => Method::Ipv4,
                    Some(m) => {
                        return Err(WhmError::new(format!(
                            "Invalid value for {}: \"{}\" is not a sort method (lexicographic, numeric, \
                             numeric_zero_as_max or ipv4).",
                            p("method"),
                            m.escape_debug()
                        )));
                    }
                };
                let reverse = match props.get("reverse") {
                    None => false,
                    Some(r) => crate::whm::parse_bool(r).ok_or_else(|| {
                        WhmError::new(format!(
                            "Invalid value for {}: \"{}\" is not a boolean (1/0, true/false, yes/no, on/off).",
                            p("reverse"),
                            r.escape_debug()
                        ))
                    })?,
                };
                sorts.push(Sort {
                    param: p("field"),
                    field: (*field).to_owned(),
                    method,
                    reverse,
                });
            }
            asked.sorts = Some(sorts);
        }
        if enabled(params, "api.chunk.enable")? {
            let size =
                whole(params, "api.chunk.size")?.ok_or_else(|| WhmError::new("Missing parameter: api.chunk.size"))?;
            let start = whole(params, "api.chunk.start")?.unwrap_or(1);
            asked.chunk = Some(Chunk { start, size });
        }
        if enabled(params, "api.columns.enable")? {
            // In letter order; the last value of a repeated letter wins.
            let by_letter: BTreeMap<&str, &str> = params
                .iter()
                .filter_map(|(k, v)| Some((k.strip_prefix("api.columns.")?, v)))
                .filter(|(letter, _)| is_letter(letter))
                .collect();
            asked.columns = Some(
                by_letter
                    .into_iter()
                    .map(|(letter, field)| (format!("api.columns.{letter}"), field.to_owned()))
                    .collect(),
            );
        }
        Ok(asked)
    }

    fn any(&self) -> bool {
        self.filters.is_some() || self.sorts.is_some() || self.chunk.is_some() || self.columns.is_some()
    }
}

/// One record: its name when the list is an object keyed by name, and its value.
type Record = (Option<String>, Value);

/// A record's return called `field` (a bare value is its own return, named after the list).
fn field_of<'a>(list: List, record: &'a Value, field: &str) -> Option<&'a Value> {
    match record {
        Value::Object(m) => m.get(field),
        v => (list.scalar_field() == Some(field)).then_some(v),
    }
}

/// Every return of a record, for the field `*`.
fn fields_of(record: &Value) -> Vec<&Value> {
    match record {
        Value::Object(m) => m.values().collect(),
        v => vec![v],
    }
}

/// A value as the text filters and sorts compare: strings as they are, numbers as written, booleans as 1 or 0,
/// `null` as nothing, anything else as its JSON.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => u8::from(*b).to_string(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn unlimited(v: &str) -> bool {
    v.trim().eq_ignore_ascii_case("unlimited")
}

fn matches(f: &Filter, v: &Value) -> bool {
    let t = text(v);
    let (lower, arg) = (t.to_lowercase(), f.arg0.to_lowercase());
    match f.kind {
        Match::Contains => lower.contains(&arg),
        Match::Begins => lower.starts_with(&arg),
        Match::Ends => lower.ends_with(&arg),
        Match::Eq => t == f.arg0,
        Match::LtUnlimited if unlimited(&t) => false,
        Match::GtUnlimited if unlimited(&t) => true,
        kind => number(&t).is_some_and(|n| match kind {
            Match::NumEq => n == f.number,
            Match::Lt | Match::LtUnlimited => n < f.number,
            Match::LtEqual => n <= f.number,
            Match::Gt | Match::GtUnlimited => n > f.number,
            Match::GtEqual => n >= f.number,
            _ => false,
        }),
    }
}

/// A sort key: what a record's field compares as under a method.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum Key {
    Text(String),
    Number(f64),
    Address(u32),
}

fn sort_key(s: &Sort, command: &str, v: Option<&Value>) -> Result<Key, WhmError> {
    let t = v.map(text).unwrap_or_default();
    let bad = |what: &str| {
        WhmError::new(format!(
            "Cannot sort {command} by \"{}\" ({}) {what}: \"{}\" is not one.",
            s.field.escape_debug(),
            s.param,
            t.escape_debug()
        ))
    };
    Ok(match s.method {
        Method::Lexicographic => Key::Text(t),
        Method::Numeric | Method::NumericZeroAsMax => {
            let n = if t.trim().is_empty() {
                0.0
            } else if unlimited(&t) {
                f64::INFINITY
            } else {
                number(&t).ok_or_else(|| bad("as numbers"))?
            };
            if s.method == Method::NumericZeroAsMax && n == 0.0 {
                Key::Number(f64::INFINITY)
            } else {
                Key::Number(n)
            }
        }
        Method::Ipv4 => Key::Address(
            t.trim()
                .parse::<Ipv4Addr>()
                .map(u32::from)
                .map_err(|_| bad("as IPv4 addresses"))?,
        ),
    })
}

fn unknown_field(command: &str, field: &str, param: &str) -> WhmError {
    WhmError::new(format!(
        "The field \"{}\" ({param}) does not exist in the answer of {command}.",
        field.escape_debug()
    ))
}

/// Applies the call's generic list parameters to an answer's `data`: the new `data`, and what to add to `metadata`.
/// Without a declared list, or when none is enabled, `data` is returned as it is.
pub fn apply(
    list: Option<List>,
    command: &str,
    mut data: Value,
    params: &Params,
) -> Result<(Value, Map<String, Value>), WhmError> {
    let mut meta = Map::new();
    let Some(list) = list else {
        return Ok((data, meta));
    };
    let asked = Asked::read(params)?;
    if !asked.any() {
        return Ok((data, meta));
    }
    let Some(slot) = list.locate_mut(&mut data) else {
        return Err(WhmError::new(format!("The answer of {command} holds no list.")));
    };
    let keyed = slot.is_object();
    let mut records: Vec<Record> = match slot.take() {
        Value::Array(items) => items.into_iter().map(|v| (None, v)).collect(),
        Value::Object(m) => m.into_iter().map(|(k, v)| (Some(k), v)).collect(),
        other => {
            *slot = other;
            return Err(WhmError::new(format!("The answer of {command} holds no list.")));
        }
    };
    // A field no record has is refused (an empty list has nothing to refuse it against).
    let exists = |records: &[Record], field: &str| {
        records.is_empty() || records.iter().any(|(_, r)| field_of(list, r, field).is_some())
    };

    if let Some(filters) = &asked.filters {
        for f in filters {
            if f.field != "*" && !exists(&records, &f.field) {
                return Err(unknown_field(command, &f.field, &f.param));
            }
        }
        records.retain(|(_, r)| {
            filters.iter().all(|f| {
                if f.field == "*" {
                    fields_of(r).into_iter().any(|v| matches(f, v))
                } else {
                    field_of(list, r, &f.field).is_some_and(|v| matches(f, v))
                }
            })
        });
        meta.insert("filter".into(), json!({"filtered": records.len()}));
    }

    if let Some(sorts) = &asked.sorts {
        for s in sorts {
            if !exists(&records, &s.field) {
                return Err(unknown_field(command, &s.field, &s.param));
            }
            if let Some(columns) = &asked.columns
                && !columns.iter().any(|(_, c)| *c == s.field)
            {
                return Err(WhmError::new(format!(
                    "Cannot sort {command} by \"{}\" ({}): a sort key must be one of the columns asked for \
                     (api.columns.*).",
                    s.field.escape_debug(),
                    s.param
                )));
            }
        }
        let mut keyed_records: Vec<(Vec<Key>, Record)> = Vec::with_capacity(records.len());
        for rec in records {
            let keys = sorts
                .iter()
                .map(|s| sort_key(s, command, field_of(list, &rec.1, &s.field)))
                .collect::<Result<Vec<_>, _>>()?;
            keyed_records.push((keys, rec));
        }
        keyed_records.sort_by(|(a, _), (b, _)| {
            for ((ka, kb), s) in a.iter().zip(b).zip(sorts) {
                let o = ka.partial_cmp(kb).unwrap_or(Ordering::Equal);
                let o = if s.reverse { o.reverse() } else { o };
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        });
        records = keyed_records.into_iter().map(|(_, r)| r).collect();
    }

    if let Some(Chunk { start, size }) = asked.chunk {
        let total = records.len();
        records = records.into_iter().skip(start - 1).take(size).collect();
        meta.insert(
            "chunk".into(),
            json!({
                "start": start,
                "size": size,
                "records": total,
                "chunks": total.div_ceil(size),
                "current": (start - 1) / size + 1,
            }),
        );
    }

    if let Some(columns) = &asked.columns {
        for (param, c) in columns {
            if !exists(&records, c) {
                return Err(unknown_field(command, c, param));
            }
        }
        for (_, r) in &mut records {
            if let Value::Object(m) = r {
                m.retain(|k, _| columns.iter().any(|(_, c)| c == k));
            }
        }
    }

    *slot = if keyed {
        Value::Object(records.into_iter().map(|(k, v)| (k.unwrap_or_default(), v)).collect())
    } else {
        Value::Array(records.into_iter().map(|(_, v)| v).collect())
    };
    Ok((data, meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(q: &str) -> Params {
        Params(
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }

    fn names() -> Value {
        json!({"reseller": ["bob", "carol", "alice", "dan"]})
    }

    #[test]
    fn nothing_asked_changes_nothing() {
        let (data, meta) = apply(Some(List::Under("reseller")), "listresellers", names(), &params("")).unwrap();
        assert_eq!(data, names());
        assert!(meta.is_empty());
    }

    #[test]
    fn filter_then_sort_then_chunk() {
        let q = "api.filter.enable=1&api.filter.a.field=reseller&api.filter.a.arg0=A&api.sort.enable=1&\
                 api.sort.a.field=reseller&api.sort.a.reverse=1&api.chunk.enable=1&api.chunk.size=1&api.chunk.start=2";
        let (data, meta) = apply(Some(List::Under("reseller")), "listresellers", names(), &params(q)).unwrap();
        // contains "a" (any case): carol, alice, dan; reversed: dan, carol, alice; the second page of one: carol.
        assert_eq!(data, json!({"reseller": ["carol"]}));
        assert_eq!(meta["filter"], json!({"filtered": 3}));
        assert_eq!(
            meta["chunk"],
            json!({"start": 2, "size": 1, "records": 3, "chunks": 3, "current": 2})
        );
    }

    #[test]
    fn keyed_objects_stay_keyed_and_the_sort_picks_the_page() {
        let data =
            json!({"tokens": {"a": {"name": "a", "t": 3}, "b": {"name": "b", "t": 1}, "c": {"name": "c", "t": 2}}});
        let q = "api.sort.enable=1&api.sort.a.field=t&api.sort.a.method=numeric&api.chunk.enable=1&api.chunk.size=2";
        let (data, _) = apply(Some(List::Under("tokens")), "api_token_list", data, &params(q)).unwrap();
        assert_eq!(
            data,
            json!({"tokens": {"b": {"name": "b", "t": 1}, "c": {"name": "c", "t": 2}}})
        );
    }

    #[test]
    fn numeric_filters_and_unlimited() {
        let data = json!({"x": [{"n": "5"}, {"n": 10}, {"n": "unlimited"}, {"n": "x"}]});
        let run = |q: &str| apply(Some(List::Under("x")), "f", data.clone(), &params(q)).unwrap().0;
        let base = "api.filter.enable=1&api.filter.a.field=n&api.filter.a.arg0=6&api.filter.a.type=";
        assert_eq!(run(&format!("{base}gt")), json!({"x": [{"n": 10}]}));
        assert_eq!(
            run(&format!("{base}gt_handle_unlimited")),
            json!({"x": [{"n": 10}, {"n": "unlimited"}]})
        );
        assert_eq!(run(&format!("{base}lt")), json!({"x": [{"n": "5"}]}));
        assert_eq!(
            run("api.filter.enable=1&api.filter.a.field=n&api.filter.a.arg0=10&api.filter.a.type==="),
            json!({"x": [{"n": 10}]})
        );
    }

    #[test]
    fn bad_values_are_failed_calls() {
        let l = Some(List::Under("reseller"));
        for (q, words) in [
            (
                "api.filter.enable=1&api.filter.a.field=reseller&api.filter.a.arg0=b&api.filter.a.type=like",
                "filter type",
            ),
            (
                "api.filter.enable=1&api.filter.a.field=nope&api.filter.a.arg0=b",
                "does not exist",
            ),
            (
                "api.filter.enable=1&api.filter.a.field=reseller&api.filter.a.arg0=b&api.filter.a.type=lt",
                "not a number",
            ),
            ("api.chunk.enable=1&api.chunk.size=0", "api.chunk.size"),
            ("api.chunk.enable=1", "Missing parameter: api.chunk.size"),
            (
                "api.chunk.enable=1&api.chunk.size=2&api.chunk.start=0",
                "api.chunk.start",
            ),
            (
                "api.sort.enable=1&api.sort.a.field=reseller&api.sort.a.method=random",
                "sort method",
            ),
            (
                "api.sort.enable=1&api.sort.a.field=reseller&api.sort.a.method=numeric",
                "as numbers",
            ),
            ("api.sort.enable=maybe", "api.sort.enable"),
            ("api.columns.enable=1&api.columns.a=nope", "does not exist"),
        ] {
            let e = apply(l, "listresellers", names(), &params(q)).unwrap_err();
            assert!(e.reason.contains(words), "{q}: {}", e.reason);
        }
    }

    #[test]
    fn columns_keep_the_returns_asked_for() {
        let data = json!({"acl": [{"name": "x", "privileges": {"a": 1}}]});
        let q = "api.columns.enable=1&api.columns.a=name";
        let (data, meta) = apply(Some(List::Under("acl")), "listacls", data, &params(q)).unwrap();
        assert_eq!(data, json!({"acl": [{"name": "x"}]}));
        assert!(meta.is_empty());
    }
}
