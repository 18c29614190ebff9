//! `$(VAR)` references in env values, commands and subPathExpr, with upstream's rules:
//! `$$` is a literal `$`, an unknown or unterminated reference stays as written.

/// Expands `input`, looking names up with `lookup`.
pub fn expand(input: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let bytes = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < bytes.len() {
        if bytes[cursor] == b'$' && cursor + 1 < bytes.len() {
            out.push_str(&input[checkpoint..cursor]);
            let rest = &input[cursor + 1..];
            // Every branch consumes '$' plus one byte, or a whole "(name)".
            let consumed = match bytes[cursor + 1] {
                b'$' => {
                    out.push('$');
                    1
                }
                b'(' => match rest.find(')') {
                    Some(close) => {
                        let name = &rest[1..close];
                        match lookup(name) {
                            Some(value) => out.push_str(&value),
                            None => {
                                out.push_str("$(");
                                out.push_str(name);
                                out.push(')');
                            }
                        }
                        close + 1
                    }
                    None => {
                        out.push_str("$(");
                        1
                    }
                },
                _ => {
                    // Copy '$' and leave the next character to the plain-text path, which
                    // keeps multi-byte characters whole.
                    out.push('$');
                    0
                }
            };
            cursor += consumed + 1;
            checkpoint = cursor;
        } else {
            cursor += 1;
        }
    }
    out.push_str(&input[checkpoint.min(input.len())..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Option<String> {
        match name {
            "A" => Some("alpha".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_known_references() {
        assert_eq!(expand("x-$(A)-y", vars), "x-alpha-y");
        assert_eq!(expand("$(A)$(A)", vars), "alphaalpha");
        assert_eq!(expand("[$(EMPTY)]", vars), "[]");
    }

    #[test]
    fn keeps_unknown_and_unterminated_references() {
        assert_eq!(expand("$(NOPE)", vars), "$(NOPE)");
        assert_eq!(expand("a $(A", vars), "a $(A");
        assert_eq!(expand("cost $5", vars), "cost $5");
        assert_eq!(expand("end$", vars), "end$");
        assert_eq!(expand("€$é", vars), "€$é");
    }

    #[test]
    fn double_dollar_escapes() {
        assert_eq!(expand("$$(A)", vars), "$(A)");
        assert_eq!(expand("$$$(A)", vars), "$alpha");
        assert_eq!(expand("$$", vars), "$");
    }
}
