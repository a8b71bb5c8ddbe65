//! Graph `$filter` expressions, evaluated on this side of the wire: the guard against a service
//! that does not apply a filter. Intune ignores a `$filter` on a property it does not support and
//! answers with every device (and is reported to apply only the first part of an `or`, and `ne`
//! as `eq`); a script that filters and then acts on the result would act on the wrong devices.
//! So the library checks every device a filtered listing returns against the filter it sent.
//!
//! The grammar is OData's, as far as managed devices need it: comparisons (`eq`, `ne`, `gt`,
//! `ge`, `lt`, `le`), `startswith`, `endswith` and `contains` (names in any case), `and`, `or`,
//! `not`, parentheses; string literals in single quotes (`''` for a quote), and unquoted `true`,
//! `false`, `null`, numbers, dates and GUIDs. Property paths follow `/` into objects
//! (`configurationManagerClientInformation/clientIdentifier`). Strings compare without regard to
//! case, as Graph compares them; dates compare as instants.

use std::cmp::Ordering;

use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Clone, Debug, PartialEq)]
enum Literal {
    Text(String),
    Bool(bool),
    Number(f64),
    Null,
}

#[derive(Clone, Debug, PartialEq)]
enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp(Vec<String>, Op, Literal),
    Call(Function, Vec<String>, String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Function {
    StartsWith,
    EndsWith,
    Contains,
}

/// A parsed `$filter`, able to say whether a device (as Graph returned it) matches.
#[derive(Clone, Debug)]
pub struct Filter {
    text: String,
    expr: Expr,
}

impl Filter {
    /// Reads `text`; an expression the library cannot evaluate is refused (`InvalidArgument`)
    /// before anything is sent, since its results could not be checked.
    pub fn parse(text: &str) -> Result<Filter> {
        let refuse = |why: String| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "the filter `{text}` cannot be used: {why}. The library checks every device the service returns against the filter, so it takes \
                     comparisons (eq, ne, gt, ge, lt, le), startswith, endswith and contains, joined by and, or, not and parentheses"
                ),
            )
            .with_details(serde_json::json!({ "filter": text }))
        };
        let toks = tokens(text).map_err(refuse)?;
        let mut p = Parser { toks, at: 0 };
        let expr = p.or().map_err(refuse)?;
        if p.at != p.toks.len() {
            return Err(refuse("there is text after the end of the expression".into()));
        }
        Ok(Filter { text: text.to_owned(), expr })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Does the expression join parts with `or` anywhere?
    pub fn uses_or(&self) -> bool {
        fn any_or(e: &Expr) -> bool {
            match e {
                Expr::Or(..) => true,
                Expr::And(a, b) => any_or(a) || any_or(b),
                Expr::Not(a) => any_or(a),
                _ => false,
            }
        }
        any_or(&self.expr)
    }

    /// Does `device` (a Graph object) match?
    pub fn matches(&self, device: &Value) -> bool {
        eval(&self.expr, device)
    }
}

fn lookup<'a>(device: &'a Value, path: &[String]) -> &'a Value {
    let mut v = device;
    for segment in path {
        v = match v.as_object().and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(segment))) {
            Some((_, next)) => next,
            None => return &Value::Null,
        };
    }
    v
}

fn instant(text: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    chrono::DateTime::parse_from_rfc3339(text).ok()
}

/// How a value compares with a literal; None when they cannot be compared (types differ).
fn compare(value: &Value, literal: &Literal) -> Option<Ordering> {
    match (value, literal) {
        (Value::Null, Literal::Null) => Some(Ordering::Equal),
        (Value::Null, _) | (_, Literal::Null) => None,
        (Value::Bool(a), Literal::Bool(b)) => Some(a.cmp(b)),
        (Value::Number(a), Literal::Number(b)) => a.as_f64()?.partial_cmp(b),
        (Value::Number(a), Literal::Text(b)) => a.as_f64()?.partial_cmp(&b.parse::<f64>().ok()?),
        (Value::String(a), Literal::Text(b)) => match (instant(a), instant(b)) {
            (Some(x), Some(y)) => Some(x.cmp(&y)),
            _ => Some(a.to_lowercase().cmp(&b.to_lowercase())),
        },
        (Value::String(a), Literal::Number(b)) => Some(a.to_lowercase().cmp(&b.to_string())),
        (Value::String(a), Literal::Bool(b)) => Some(a.to_lowercase().cmp(&b.to_string())),
        _ => None,
    }
}

fn eval(e: &Expr, device: &Value) -> bool {
    match e {
        Expr::And(a, b) => eval(a, device) && eval(b, device),
        Expr::Or(a, b) => eval(a, device) || eval(b, device),
        Expr::Not(a) => !eval(a, device),
        Expr::Cmp(path, op, literal) => {
            let ord = compare(lookup(device, path), literal);
            match op {
                Op::Eq => ord == Some(Ordering::Equal),
                Op::Ne => ord != Some(Ordering::Equal),
                Op::Gt => ord == Some(Ordering::Greater),
                Op::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
                Op::Lt => ord == Some(Ordering::Less),
                Op::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
            }
        }
        Expr::Call(f, path, arg) => {
            let Some(text) = lookup(device, path).as_str() else { return false };
            let (text, arg) = (text.to_lowercase(), arg.to_lowercase());
            match f {
                Function::StartsWith => text.starts_with(&arg),
                Function::EndsWith => text.ends_with(&arg),
                Function::Contains => text.contains(&arg),
            }
        }
    }
}

#[derive(Debug, PartialEq)]
enum Tok {
    Open,
    Close,
    Comma,
    Str(String),
    Word(String),
}

fn tokens(text: &str) -> std::result::Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                out.push(Tok::Open);
            }
            ')' => {
                chars.next();
                out.push(Tok::Close);
            }
            ',' => {
                chars.next();
                out.push(Tok::Comma);
            }
            '\'' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some('\'') if chars.peek() == Some(&'\'') => {
                            chars.next();
                            s.push('\'');
                        }
                        Some('\'') => break,
                        Some(c) => s.push(c),
                        None => return Err("a quoted value is not closed".into()),
                    }
                }
                out.push(Tok::Str(s));
            }
            _ => {
                let mut w = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '(' | ')' | ',' | '\'') {
                        break;
                    }
                    w.push(c);
                    chars.next();
                }
                out.push(Tok::Word(w));
            }
        }
    }
    if out.is_empty() {
        return Err("it is empty".into());
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    at: usize,
}

type Parsed<T> = std::result::Result<T, String>;

impl Parser {
    fn keyword(&mut self, k: &str) -> bool {
        if matches!(self.toks.get(self.at), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(k)) {
            self.at += 1;
            return true;
        }
        false
    }

    fn take(&mut self) -> Option<&Tok> {
        let t = self.toks.get(self.at);
        self.at += 1;
        t
    }

    fn or(&mut self) -> Parsed<Expr> {
        let mut e = self.and()?;
        while self.keyword("or") {
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Parsed<Expr> {
        let mut e = self.unary()?;
        while self.keyword("and") {
            e = Expr::And(Box::new(e), Box::new(self.unary()?));
        }
        Ok(e)
    }

    fn unary(&mut self) -> Parsed<Expr> {
        if self.keyword("not") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn path(word: &str) -> Parsed<Vec<String>> {
        let path: Vec<String> = word.split('/').map(str::to_owned).collect();
        if path.iter().any(|s| s.is_empty() || !s.chars().all(|c| c.is_alphanumeric() || c == '_')) {
            return Err(format!("`{word}` is not a property"));
        }
        Ok(path)
    }

    fn literal(&mut self) -> Parsed<Literal> {
        match self.take() {
            Some(Tok::Str(s)) => Ok(Literal::Text(s.clone())),
            Some(Tok::Word(w)) => Ok(match w.to_ascii_lowercase().as_str() {
                "null" => Literal::Null,
                "true" => Literal::Bool(true),
                "false" => Literal::Bool(false),
                _ => match w.parse::<f64>() {
                    Ok(n) => Literal::Number(n),
                    Err(_) => Literal::Text(w.clone()),
                },
            }),
            _ => Err("a value is missing".into()),
        }
    }

    fn primary(&mut self) -> Parsed<Expr> {
        let word = match self.take() {
            Some(Tok::Open) => {
                let e = self.or()?;
                return match self.take() {
                    Some(Tok::Close) => Ok(e),
                    _ => Err("a ')' is missing".into()),
                };
            }
            Some(Tok::Word(w)) => w.clone(),
            _ => return Err("a property, a function or '(' was expected".into()),
        };
        if self.toks.get(self.at) == Some(&Tok::Open) {
            self.at += 1;
            let f = match word.to_ascii_lowercase().as_str() {
                "startswith" => Function::StartsWith,
                "endswith" => Function::EndsWith,
                "contains" => Function::Contains,
                _ => return Err(format!("the function `{word}` is not one it can evaluate")),
            };
            let path = match self.take() {
                Some(Tok::Word(p)) => Self::path(&p.clone())?,
                _ => return Err(format!("{word}() takes a property first")),
            };
            if self.take() != Some(&Tok::Comma) {
                return Err(format!("{word}() takes a property and a value"));
            }
            let arg = match self.literal()? {
                Literal::Text(t) => t,
                _ => return Err(format!("{word}() takes a quoted text value")),
            };
            if self.take() != Some(&Tok::Close) {
                return Err(format!("{word}() takes a property and a value"));
            }
            return Ok(Expr::Call(f, path, arg));
        }
        let path = Self::path(&word)?;
        let op = match self.take() {
            Some(Tok::Word(o)) => match o.to_ascii_lowercase().as_str() {
                "eq" => Op::Eq,
                "ne" => Op::Ne,
                "gt" => Op::Gt,
                "ge" => Op::Ge,
                "lt" => Op::Lt,
                "le" => Op::Le,
                other => return Err(format!("`{other}` is not a comparison it can evaluate")),
            },
            _ => return Err(format!("a comparison is missing after `{word}`")),
        };
        Ok(Expr::Cmp(path, op, self.literal()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn device() -> Value {
        json!({ "id": "d-1", "deviceName": "PC-Malmö-01", "operatingSystem": "Windows", "managementAgent": "configurationManagerClient",
            "lastSyncDateTime": "2026-03-01T10:00:00.000Z", "userId": null, "isEncrypted": true, "totalStorageSpaceInBytes": 512,
            "configurationManagerClientInformation": { "clientIdentifier": "GUID:0001", "clientVersion": "5.00.9128.1000" } })
    }

    fn yes(f: &str) -> bool {
        Filter::parse(f).unwrap_or_else(|e| panic!("{f}: {}", e.message)).matches(&device())
    }

    #[test]
    fn comparisons_functions_and_logic_as_graph_means_them() {
        for f in [
            "deviceName eq 'pc-malmö-01'",
            "startsWith(deviceName,'PC-MAL')",
            "contains(deviceName, 'malmö')",
            "endswith(deviceName,'-01')",
            "operatingSystem ne 'iOS'",
            "deviceName eq 'x' or operatingSystem eq 'Windows'",
            "not (operatingSystem eq 'iOS') and (managementAgent eq 'configurationManagerClient')",
            "configurationManagerClientInformation/clientIdentifier eq 'guid:0001'",
            "lastSyncDateTime gt 2026-02-28T23:59:59Z",
            "lastSyncDateTime le 2026-03-01T10:00:00Z",
            "userId eq null",
            "isEncrypted eq true",
            "totalStorageSpaceInBytes ge 512",
            "deviceName eq 'it''s' or deviceName ne 'it''s'",
        ] {
            assert!(yes(f), "{f}");
        }
        for f in ["deviceName eq 'PC-02'", "operatingSystem ne 'windows'", "userId ne null", "serialNumber eq 'x'", "lastSyncDateTime lt 2026-01-01T00:00:00Z"]
        {
            assert!(!yes(f), "{f}");
        }
    }

    #[test]
    fn what_it_cannot_evaluate_is_refused_before_anything_is_sent() {
        for f in [
            "",
            "deviceName",
            "deviceName eq",
            "deviceName eq 'x",
            "matches(deviceName,'x')",
            "deviceName has 'x'",
            "(deviceName eq 'x'",
            "a eq 'x' b",
            "tags/any(t:t eq 'x')",
        ] {
            let e = Filter::parse(f).expect_err(f);
            assert_eq!(e.kind, ErrorKind::InvalidArgument, "{f}");
        }
    }
}
