//! The Remote Access Key page, as WHM lays it out: deprecation warning, the key, Generate New Key, and the signature.
//!
//! Rendered with `maud`, which escapes every spliced value for the context it lands in.

use maud::html;

/// What the page shows.
#[derive(Debug)]
pub struct View<'a> {
    /// The `/cpsess…` prefix for links and form actions.
    pub security_token: &'a str,
    /// The one-use form nonce the host issued for this render; goes into the POST form.
    pub csrf_token: &'a str,
    /// Whose key the page is about; `None` when the request named no user whose key the caller may see, and the page
    /// then shows only the error (never a key section or a Generate button, which could hit someone else).
    pub target: Option<&'a str>,
    /// The key in WHM's file layout (32-character lines).
    pub key_text: Option<String>,
    /// The target has no key yet: the page offers to generate the first one.
    pub first_key: bool,
    pub signature: Option<String>,
    /// Whether the caller may load other users' keys (root only).
    pub can_pick: bool,
    pub notice: Option<String>,
    pub error: Option<String>,
}

pub fn render(view: &View<'_>) -> String {
    let t = view.security_token;
    html! {
        div.warning #deprecation {
            p {
                strong { "Deprecated:" }
                " Remote Access Keys are deprecated since cPanel & WHM version 64. Use "
                a #api-tokens-link href={ (t) "/manage-api-tokens" } { "Manage API Tokens" }
                " instead: tokens can be limited to some privileges, expire, and be revoked one by one."
            }
        }
        @if let Some(notice) = &view.notice {
            p.ok #notice { (notice) }
        }
        @if let Some(error) = &view.error {
            p.error #error { (error) }
        }
        @if view.can_pick {
            form #pick-user method="get" action={ (t) "/remote-access-key" } {
                label { "User " input #pick name="user" value=[view.target] maxlength="16"; }
                " "
                button type="submit" { "Load Key" }
            }
        }
        @if let Some(user) = view.target {
            h2 #key-heading { "Access Key For User “" (user) "”" }
            // The key on the left; its signature and the button that replaces it on the right.
            div.key {
                @match (&view.key_text, view.first_key) {
                    (Some(key), _) => textarea #accesshash readonly rows="31" cols="34" { (key) },
                    (None, true) => p #first-key { (user) " has no access key yet. Generate one to use with scripts, billing software or cluster peers." },
                    (None, false) => p #no-key { "Unable to retrieve key." },
                }
                div.side {
                    @if let Some(signature) = &view.signature {
                        p { "Access Key Signature: " code #signature { (signature) } }
                    }
                    form #generate-form method="post" action={ (t) "/remote-access-key" } {
                        input type="hidden" name="csrf_token" value=(view.csrf_token);
                        input type="hidden" name="user" value=(user);
                        input type="hidden" name="generate" value="1";
                        @if view.first_key {
                            button #generate type="submit" { "Generate Key" }
                        } @else {
                            p.warning {
                                "Generating a new key replaces the current one: anything that uses the old key stops working at once."
                            }
                            button #generate type="submit" { "Generate New Key" }
                        }
                    }
                }
            }
        }
    }
    .into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view<'a>(target: &'a str, csrf_token: &'a str) -> View<'a> {
        View {
            security_token: "/cpsess0123456789",
            csrf_token,
            target: Some(target),
            key_text: None,
            first_key: false,
            signature: None,
            can_pick: true,
            notice: None,
            error: Some("<b>&'\"".into()),
        }
    }

    #[test]
    fn values_are_escaped_and_the_nonce_is_in_the_form() {
        let html = render(&view("<script>\"x\"", "nonce\"><x"));
        assert!(
            !html.contains("<script>") && !html.contains("<b>") && !html.contains("<x"),
            "{html}"
        );
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(
            html.contains(r#"name="csrf_token" value="nonce&quot;&gt;&lt;x""#),
            "{html}"
        );
        assert!(html.contains("cPanel &amp; WHM version 64"), "{html}");
        assert!(html.contains(r#"href="/cpsess0123456789/manage-api-tokens""#), "{html}");
        assert!(!html.contains("{{"), "{html}");
        for id in [
            "deprecation",
            "api-tokens-link",
            "error",
            "pick-user",
            "pick",
            "key-heading",
            "no-key",
            "generate-form",
            "generate",
        ] {
            assert!(html.contains(&format!("id=\"{id}\"")), "{id} in {html}");
        }
    }

    #[test]
    fn a_refused_user_shows_only_the_error() {
        let mut v = view("ignored", "n");
        v.target = None;
        let html = render(&v);
        assert!(html.contains("id=\"error\""), "{html}");
        for id in ["key-heading", "no-key", "first-key", "generate-form", "generate"] {
            assert!(
                !html.contains(&format!("id=\"{id}\"")),
                "no {id} when no user was resolved: {html}"
            );
        }
    }

    #[test]
    fn a_user_without_a_key_is_offered_the_first_one() {
        let mut v = view("bob", "n");
        v.error = None;
        v.first_key = true;
        let html = render(&v);
        assert!(
            html.contains("id=\"first-key\"") && html.contains("Generate Key"),
            "{html}"
        );
        assert!(!html.contains("Unable to retrieve key."), "{html}");
        assert!(
            html.contains(r#"name="user" value="bob""#),
            "the form generates for the user shown: {html}"
        );
    }

    #[test]
    fn a_key_shows_in_the_textarea_with_its_signature() {
        let mut v = view("root", "n");
        v.key_text = Some("ABC\nDEF".into());
        v.signature = Some("abcdef".into());
        v.notice = Some("done".into());
        let html = render(&v);
        assert!(html.contains(">ABC\nDEF</textarea>"), "{html}");
        assert!(html.contains(r#"<code id="signature">abcdef</code>"#), "{html}");
        assert!(html.contains(r#"<p class="ok" id="notice">done</p>"#), "{html}");
        assert!(!html.contains("no-key"), "{html}");
    }
}
