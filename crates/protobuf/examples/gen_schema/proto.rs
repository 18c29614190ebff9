//! Minimal reader for the `generated.proto` files Kubernetes ships. They use a
//! small proto2 subset (no nesting, enums, oneofs or options on fields), so a
//! token scanner is enough.

use std::fmt;

#[derive(Debug)]
pub struct ProtoFile {
    pub package: String,
    pub messages: Vec<Message>,
}

#[derive(Debug)]
pub struct Message {
    pub name: String,
    pub fields: Vec<Field>,
}

#[derive(Debug)]
pub enum Label {
    Optional,
    Repeated,
    /// `map<key, value>`; the key/value type names are kept as written.
    Map(String, String),
}

#[derive(Debug)]
pub struct Field {
    pub label: Label,
    pub type_name: String,
    pub name: String,
    pub number: u32,
}

#[derive(Debug)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn strip_comments(src: &str) -> String {
    // Line comments go first: they can mention "/*" (e.g. resource globs).
    let src = src
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = String::with_capacity(src.len());
    let mut rest = src.as_str();
    while let Some(i) = rest.find("/*") {
        out.push_str(&rest[..i]);
        rest = match rest[i..].find("*/") {
            Some(j) => &rest[i + j + 2..],
            None => "",
        };
    }
    out.push_str(rest);
    out
}

fn tokenize(src: &str) -> Vec<String> {
    let mut toks = Vec::new();
    let mut cur = String::new();
    let mut in_str = false;
    for c in src.chars() {
        if in_str {
            cur.push(c);
            if c == '"' {
                toks.push(std::mem::take(&mut cur));
                in_str = false;
            }
            continue;
        }
        match c {
            '"' => {
                if !cur.is_empty() {
                    toks.push(std::mem::take(&mut cur));
                }
                cur.push(c);
                in_str = true;
            }
            '{' | '}' | ';' | '=' | '<' | '>' | ',' => {
                if !cur.is_empty() {
                    toks.push(std::mem::take(&mut cur));
                }
                toks.push(c.to_string());
            }
            c if c.is_whitespace() => {
                if !cur.is_empty() {
                    toks.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        toks.push(cur);
    }
    toks
}

struct Cursor {
    toks: Vec<String>,
    pos: usize,
}

impl Cursor {
    fn next(&mut self) -> Result<String, ParseError> {
        let t = self
            .toks
            .get(self.pos)
            .cloned()
            .ok_or_else(|| ParseError("unexpected end of file".into()))?;
        self.pos += 1;
        Ok(t)
    }
    fn expect(&mut self, want: &str) -> Result<(), ParseError> {
        let t = self.next()?;
        if t == want {
            Ok(())
        } else {
            Err(ParseError(format!("expected {want:?}, found {t:?}")))
        }
    }
    fn skip_statement(&mut self) -> Result<(), ParseError> {
        while self.next()? != ";" {}
        Ok(())
    }
}

pub fn parse(src: &str) -> Result<ProtoFile, ParseError> {
    let mut c = Cursor {
        toks: tokenize(&strip_comments(src)),
        pos: 0,
    };
    let mut file = ProtoFile {
        package: String::new(),
        messages: Vec::new(),
    };
    while c.pos < c.toks.len() {
        let t = c.next()?;
        match t.as_str() {
            "package" => {
                file.package = c.next()?;
                c.expect(";")?;
            }
            "syntax" | "import" | "option" => c.skip_statement()?,
            "message" => file.messages.push(parse_message(&mut c)?),
            other => return Err(ParseError(format!("unexpected top-level token {other:?}"))),
        }
    }
    Ok(file)
}

fn parse_message(c: &mut Cursor) -> Result<Message, ParseError> {
    let name = c.next()?;
    c.expect("{")?;
    let mut fields = Vec::new();
    loop {
        let t = c.next()?;
        let label = match t.as_str() {
            "}" => break,
            "optional" => Label::Optional,
            "repeated" => Label::Repeated,
            "map" => {
                c.expect("<")?;
                let k = c.next()?;
                c.expect(",")?;
                let v = c.next()?;
                c.expect(">")?;
                Label::Map(k, v)
            }
            other => {
                return Err(ParseError(format!(
                    "message {name}: unsupported token {other:?}"
                )))
            }
        };
        let type_name = match &label {
            Label::Map(..) => String::new(),
            _ => c.next()?,
        };
        let fname = c.next()?;
        c.expect("=")?;
        let number = c
            .next()?
            .parse()
            .map_err(|_| ParseError(format!("message {name}: bad field number")))?;
        c.expect(";")?;
        fields.push(Field {
            label,
            type_name,
            name: fname,
            number,
        });
    }
    Ok(Message { name, fields })
}
