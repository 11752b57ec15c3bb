//! Action markers in agent replies: `<!--action:TYPE|P1|P2…-->`. The app
//! acts on them (e.g. schedules a `reminder` with `[delaySeconds, title,
//! body]`); the text shown or spoken never contains them.

use serde::Serialize;

const OPEN: &str = "<!--action:";
const CLOSE: &str = "-->";

/// One action marker: `<!--action:reminder|600|Tea-->` is the action of
/// kind `reminder` with the parameters `["600", "Tea"]`.
///
/// Serialises as `{"type": kind, "params": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    /// The marker's type, the text before the first `|`, trimmed (never
    /// empty).
    #[serde(rename = "type")]
    pub kind: String,
    /// The `|`-separated parameters after the type, each trimmed, in order.
    /// What they mean depends on the kind; nothing here checks them.
    pub params: Vec<String>,
}

/// A reply split into what people see and the actions it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedReply {
    /// The reply without its markers, trimmed at both ends. Whitespace that
    /// stood around a marker is kept (`"A <!--action:x--> B"` becomes
    /// `"A  B"`).
    pub text: String,
    /// The actions of the complete markers, in the order they appeared.
    pub actions: Vec<Action>,
}

/// Removes every complete marker from `reply` and returns the actions in
/// order. An unterminated `<!--action:` is left as text: it is not a marker.
/// Markers with an empty type are removed but yield no action.
///
/// ```
/// use heyclaw_domain::extract_actions;
///
/// let parsed = extract_actions("Done! <!--action:reminder|600|Tea-->");
/// assert_eq!(parsed.text, "Done!");
/// assert_eq!(parsed.actions[0].kind, "reminder");
/// assert_eq!(parsed.actions[0].params, ["600", "Tea"]);
/// ```
pub fn extract_actions(reply: &str) -> ParsedReply {
    let mut text = String::with_capacity(reply.len());
    let mut actions = Vec::new();
    let mut rest = reply;
    while let Some(start) = rest.find(OPEN) {
        let after_open = &rest[start + OPEN.len()..];
        let Some(end) = after_open.find(CLOSE) else {
            break;
        };
        text.push_str(&rest[..start]);
        let mut parts = after_open[..end].split('|').map(|p| p.trim().to_owned());
        let kind = parts.next().unwrap_or_default();
        if !kind.is_empty() {
            actions.push(Action {
                kind,
                params: parts.collect(),
            });
        }
        rest = &after_open[end + CLOSE.len()..];
    }
    text.push_str(rest);
    ParsedReply {
        text: text.trim().to_owned(),
        actions,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn strips_markers_and_returns_actions() {
        let parsed = extract_actions(
            "Sure, I'll remind you.\n<!--action:reminder|600|Tea|Your tea is ready-->",
        );
        assert_eq!(parsed.text, "Sure, I'll remind you.");
        assert_eq!(
            parsed.actions,
            [Action {
                kind: "reminder".into(),
                params: vec!["600".into(), "Tea".into(), "Your tea is ready".into()]
            }]
        );
    }

    #[test]
    fn several_markers_keep_their_order_and_surrounding_text() {
        let parsed = extract_actions("A <!--action:one--> B <!--action:two|x--> C");
        assert_eq!(parsed.text, "A  B  C");
        let kinds: Vec<_> = parsed.actions.iter().map(|a| a.kind.as_str()).collect();
        assert_eq!(kinds, ["one", "two"]);
        assert!(parsed.actions[0].params.is_empty());
    }

    #[test]
    fn unterminated_markers_are_text() {
        let parsed = extract_actions("Hi <!--action:reminder|5");
        assert_eq!(parsed.text, "Hi <!--action:reminder|5");
        assert!(parsed.actions.is_empty());
    }

    proptest! {
        #[test]
        fn text_without_markers_is_unchanged_but_trimmed(text in "[^<]{0,200}") {
            let parsed = extract_actions(&text);
            prop_assert_eq!(parsed.text, text.trim());
            prop_assert!(parsed.actions.is_empty());
        }

        #[test]
        fn no_complete_marker_survives(parts in proptest::collection::vec(("[a-z ]{0,10}", "[a-z]{1,8}", "[a-z0-9|]{0,12}"), 0..6)) {
            let mut reply = String::new();
            for (text, kind, params) in &parts {
                reply.push_str(text);
                reply.push_str(&format!("<!--action:{kind}|{params}-->"));
            }
            let parsed = extract_actions(&reply);
            prop_assert!(!parsed.text.contains("<!--action:"));
            prop_assert_eq!(parsed.actions.len(), parts.len());
        }
    }
}
