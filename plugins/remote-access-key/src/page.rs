//! The Remote Access Key page, as WHM lays it out: deprecation warning, the key, Generate New Key, and the signature.

/// Escapes text for HTML content and attributes.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// What the page shows.
#[derive(Debug)]
pub struct View<'a> {
    /// The `/cpsess…` prefix for links and form actions.
    pub security_token: &'a str,
    pub target: &'a str,
    /// The key in WHM's file layout (32-character lines), or `None` for "Unable to retrieve key."
    pub key_text: Option<String>,
    pub signature: Option<String>,
    /// Whether the caller may load other users' keys (holds `all`).
    pub can_pick: bool,
    pub notice: Option<String>,
    pub error: Option<String>,
}

pub fn render(view: &View<'_>) -> String {
    let t = esc(view.security_token);
    let user = esc(view.target);
    let mut html = format!(
        "<div class=\"warning\" id=\"deprecation\"><p><strong>Deprecated:</strong> Remote Access Keys are deprecated since cPanel &amp; WHM version 64. \
Use <a href=\"{t}/manage-api-tokens\" id=\"api-tokens-link\">Manage API Tokens</a> instead: tokens can be limited to some privileges, expire, and be revoked one by one.</p></div>"
    );
    if let Some(n) = &view.notice {
        html.push_str(&format!("<p class=\"ok\" id=\"notice\">{}</p>", esc(n)));
    }
    if let Some(e) = &view.error {
        html.push_str(&format!("<p class=\"error\" id=\"error\">{}</p>", esc(e)));
    }
    if view.can_pick {
        html.push_str(&format!(
            "<form method=\"get\" action=\"{t}/remote-access-key\" id=\"pick-user\"><label>User <input name=\"user\" id=\"pick\" value=\"{user}\" maxlength=\"16\"></label> <button type=\"submit\">Load Key</button></form>"
        ));
    }
    html.push_str(&format!("<h2 id=\"key-heading\">Access Key For User “{user}”</h2>"));
    // The key on the left; its signature and the button that replaces it on the right.
    html.push_str("<div class=\"key\">");
    match &view.key_text {
        Some(k) => html.push_str(&format!(
            "<textarea id=\"accesshash\" readonly rows=\"31\" cols=\"34\">{}</textarea>",
            esc(k)
        )),
        None => html.push_str("<p id=\"no-key\">Unable to retrieve key.</p>"),
    }
    html.push_str("<div class=\"side\">");
    if let Some(sig) = &view.signature {
        html.push_str(&format!(
            "<p>Access Key Signature: <code id=\"signature\">{}</code></p>",
            esc(sig)
        ));
    }
    html.push_str(&format!(
        "<form method=\"post\" action=\"{t}/remote-access-key\" id=\"generate-form\"><input type=\"hidden\" name=\"csrf_token\" value=\"{{{{csrf_token}}}}\">\
<input type=\"hidden\" name=\"user\" value=\"{user}\"><input type=\"hidden\" name=\"generate\" value=\"1\">\
<p class=\"warning\">Generating a new key replaces the current one: anything that uses the old key stops working at once.</p>\
<button type=\"submit\" id=\"generate\">Generate New Key</button></form>"
    ));
    html.push_str("</div></div>");
    html
}
