//! Authentication: x509 client certificates signed by the cluster CA, and bearer tokens
//! from a static token file. Until RBAC lands every authenticated user is an
//! administrator.

use std::collections::HashMap;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
}

/// Static bearer tokens, in upstream's `--token-auth-file` CSV format:
/// `token,user,uid[,"group1,group2"]`.
#[derive(Debug, Default, Clone)]
pub struct TokenFile {
    tokens: HashMap<String, User>,
}

impl TokenFile {
    pub fn load(path: &Path) -> std::io::Result<Self> {
        Ok(Self::parse(&std::fs::read_to_string(path)?))
    }

    pub fn parse(text: &str) -> Self {
        let mut tokens = HashMap::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (head, groups) = match line.split_once(",\"") {
                Some((h, g)) => (h, g.trim_end_matches('"')),
                None => (line, ""),
            };
            let mut fields = head.split(',').map(str::trim);
            let (Some(token), Some(name)) = (fields.next(), fields.next()) else {
                continue;
            };
            let uid = fields.next().unwrap_or(name).to_string();
            let mut groups: Vec<String> = groups
                .split(',')
                .map(str::trim)
                .filter(|g| !g.is_empty())
                .map(str::to_string)
                .collect();
            // Remaining unquoted fields are a single group, as upstream reads them.
            groups.extend(fields.map(str::to_string));
            tokens.insert(
                token.to_string(),
                User {
                    name: name.to_string(),
                    uid,
                    groups,
                },
            );
        }
        Self { tokens }
    }

    pub fn insert(&mut self, token: &str, user: User) {
        self.tokens.insert(token.to_string(), user);
    }

    pub fn authenticate(&self, token: &str) -> Option<User> {
        self.tokens.get(token).cloned()
    }
}

/// The identity the TLS handshake established, if any.
#[derive(Debug, Clone, Default)]
pub struct PeerIdentity(pub Option<User>);

pub fn user_from_cert(cert_der: &[u8]) -> Option<User> {
    let (name, mut groups) = crate::pki::identity_of(cert_der)?;
    groups.push("system:authenticated".into());
    Some(User {
        uid: String::new(),
        name,
        groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_file_format() {
        let tf = TokenFile::parse("# c\nabc,alice,1,\"dev,ops\"\nxyz,bob,2\n\nbad\n");
        let alice = tf.authenticate("abc").unwrap();
        assert_eq!(alice.name, "alice");
        assert_eq!(alice.groups, ["dev", "ops"]);
        assert_eq!(tf.authenticate("xyz").unwrap().uid, "2");
        assert!(tf.authenticate("bad").is_none());
        assert!(tf.authenticate("nope").is_none());
    }
}
