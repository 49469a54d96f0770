//! Who may do what: policies of statements, each allowing or denying
//! actions on resources, evaluated as IAM does: nothing is allowed unless a
//! statement allows it, and any statement that denies it wins.
//!
//! Actions are `service:Operation` (`s3:GetObject`), compared without
//! regard to case; resources are names inside the tenant (`photos/*`,
//! `photos`), compared exactly. Both may use `*` (any run of characters)
//! and `?` (one character).

use serde::{Deserialize, Serialize};

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// The actions are allowed on the resources (unless denied).
    Allow,
    /// They are not, whatever else allows them.
    Deny,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    /// Allow or deny.
    pub effect: Effect,
    /// Action patterns, such as `s3:Get*`.
    pub actions: Vec<String>,
    /// Resource patterns, such as `photos/*`.
    pub resources: Vec<String>,
}

/// A named set of statements.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Its rules.
    pub statements: Vec<Statement>,
}

/// Why a policy document is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Not the JSON shape of a policy.
    #[error("not a policy document: {0}")]
    Shape(String),
    /// A statement that can match nothing.
    #[error("statement {index}: {problem}")]
    Statement {
        /// Which (from 0).
        index: usize,
        /// What is wrong.
        problem: String,
    },
}

impl Policy {
    /// Reads and checks a policy document (JSON).
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let policy: Policy =
            serde_json::from_str(text).map_err(|e| PolicyError::Shape(e.to_string()))?;
        for (index, statement) in policy.statements.iter().enumerate() {
            let problem = |problem: &str| PolicyError::Statement {
                index,
                problem: problem.to_owned(),
            };
            if statement.actions.is_empty() {
                return Err(problem("no actions"));
            }
            if statement.resources.is_empty() {
                return Err(problem("no resources"));
            }
            for action in &statement.actions {
                if action != "*" && !action.contains(':') {
                    return Err(problem(&format!(
                        "action `{action}` is not `service:Operation` (such as s3:GetObject) or `*`"
                    )));
                }
            }
        }
        Ok(policy)
    }

    /// The policy as a document [`Policy::parse`] reads back.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a policy serialises")
    }
}

/// What the policies say about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A statement allows it and none denies it.
    Allowed,
    /// A statement of the named policy denies it.
    Denied(String),
    /// No statement speaks of it: denied by default.
    NotAllowed,
}

impl Decision {
    /// Whether the request may go ahead.
    pub fn allowed(&self) -> bool {
        matches!(self, Decision::Allowed)
    }
}

/// Evaluates `action` on `resource` against `policies` (by name).
pub fn decide<'a>(
    policies: impl IntoIterator<Item = (&'a str, &'a Policy)>,
    action: &str,
    resource: &str,
) -> Decision {
    let action = action.to_ascii_lowercase();
    let mut allowed = false;
    for (name, policy) in policies {
        for statement in &policy.statements {
            let speaks = statement
                .actions
                .iter()
                .any(|pattern| glob(&pattern.to_ascii_lowercase(), &action))
                && statement
                    .resources
                    .iter()
                    .any(|pattern| glob(pattern, resource));
            if !speaks {
                continue;
            }
            match statement.effect {
                Effect::Deny => return Decision::Denied(name.to_owned()),
                Effect::Allow => allowed = true,
            }
        }
    }
    if allowed {
        Decision::Allowed
    } else {
        Decision::NotAllowed
    }
}

/// Whether `text` matches `pattern` (`*`: any run, `?`: one character).
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it matched up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if let Some((star_pi, star_ti)) = star {
            pi = star_pi + 1;
            ti = star_ti + 1;
            star = Some((star_pi, star_ti + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(text: &str) -> Policy {
        Policy::parse(text).unwrap()
    }

    #[test]
    fn globs_match_runs_and_single_characters() {
        assert!(glob("photos/*", "photos/2026/a.jpg"));
        assert!(glob("photos/*", "photos/"));
        assert!(!glob("photos/*", "photos"));
        assert!(glob("*", ""));
        assert!(glob("s3:Get*", "s3:GetObject"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "ac"));
        assert!(glob("*a*b*", "xxaxxbxx"));
        assert!(!glob("*a*b", "xxbxxa"));
        assert!(glob("a*", "a*b"), "a star in the text is a character");
    }

    #[test]
    fn nothing_is_allowed_unless_allowed_and_deny_wins() {
        let read = policy(
            r#"{"statements":[{"effect":"allow","actions":["s3:Get*","s3:List*"],"resources":["photos","photos/*"]}]}"#,
        );
        let no_secrets = policy(
            r#"{"statements":[{"effect":"deny","actions":["*"],"resources":["photos/secret/*"]}]}"#,
        );
        let both = [("read", &read), ("no-secrets", &no_secrets)];
        assert_eq!(
            decide(both, "s3:GetObject", "photos/a.jpg"),
            Decision::Allowed
        );
        assert_eq!(
            decide(both, "S3:getobject", "photos/a.jpg"),
            Decision::Allowed
        );
        assert_eq!(
            decide(both, "s3:GetObject", "photos/secret/b.jpg"),
            Decision::Denied("no-secrets".into())
        );
        assert_eq!(
            decide(both, "s3:PutObject", "photos/a.jpg"),
            Decision::NotAllowed
        );
        assert_eq!(
            decide(both, "s3:GetObject", "other/a.jpg"),
            Decision::NotAllowed
        );
        assert_eq!(
            decide([], "s3:GetObject", "photos/a.jpg"),
            Decision::NotAllowed
        );
    }

    #[test]
    fn malformed_documents_are_refused_with_what_is_wrong() {
        assert!(matches!(Policy::parse("{}"), Err(PolicyError::Shape(_))));
        assert!(matches!(
            Policy::parse(
                r#"{"statements":[{"effect":"allow","actions":["GetObject"],"resources":["*"]}]}"#
            ),
            Err(PolicyError::Statement { index: 0, .. })
        ));
        assert!(matches!(
            Policy::parse(
                r#"{"statements":[{"effect":"maybe","actions":["*"],"resources":["*"]}]}"#
            ),
            Err(PolicyError::Shape(_))
        ));
        assert!(matches!(
            Policy::parse(r#"{"statements":[{"effect":"allow","actions":[],"resources":["*"]}]}"#),
            Err(PolicyError::Statement { index: 0, .. })
        ));
    }
}
