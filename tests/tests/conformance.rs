//! WHM API 1 as clients know it (spec §6): one row per behaviour, request in, exact status and JSON shape out.
//!
//! The cast's panel is driven in process (`TestPanel::open`) with the real Remote Access Key plugin loaded from disk.
//! Rows run in order on one panel, so a row may rely on what an earlier one did.
//! Every row failed before the panel answered as WHM does (checked against the code before that change), except those
//! whose behaviour says “still”: they keep what already held beside the rows that changed it.
//! A pattern is JSON compared exactly, except for the placeholders `"<absent>"` (the key must not be there),
//! `"<string>"`, `"<number>"`, `"<array>"`, `"<any>"` and `"<prefix:…>"` (a string that starts with `…`).

use serde_json::{Map, Value, json};
use settings::Acl;
use tests::{Cast, Client, TestPanel};

/// The cast's server with the Remote Access Key plugin alone, on the port WHM's plain HTTP listens on.
fn cast() -> Cast {
    Cast::standard()
        .without_plugins()
        .plugin("remote-access-key", "")
        .server("listen = [\"127.0.0.1:2086\"]")
}

/// A native `cpanel.config` holding a key the schema does not model.
const CPANEL_CONFIG: &str = "allow_deprecated_accesshash=1\nsome_unmodelled_key=42\n";

/// Values WHM's own validation would refuse, as a hand-edited server file may hold them, among good ones.
const ODD_CPANEL_CONFIG: &str = "# edited by hand\nallow_deprecated_accesshash=yes\nloadthreshold=high \n\
maxcpsrvdconnections=lots\nsome_unmodelled_key=42\ncsp=0\ndormant_services=cpdavd,exim\n";

/// The `Host` every row's request names.
const HOST: &str = "panel.example:2087";

/// Who asks in the rows: root, bob and carol each with a full-access API token named `conformance`, and an intruder
/// presenting a token that does not exist; every request names [`HOST`].
struct Askers<'a> {
    clients: Vec<(&'static str, Client<'a>)>,
}

fn askers(p: &TestPanel) -> Askers<'_> {
    let mut clients: Vec<(&'static str, Client<'_>)> = ["root", "bob", "carol"]
        .into_iter()
        .map(|user| (user, p.as_named(user, "conformance").header("host", HOST)))
        .collect();
    clients.push(("intruder", p.presenting("whm root:notarealtoken").header("host", HOST)));
    Askers { clients }
}

impl<'a> Askers<'a> {
    fn who(&self, who: &str) -> &Client<'a> {
        &self
            .clients
            .iter()
            .find(|(u, _)| *u == who)
            .expect("one of the askers")
            .1
    }

    /// A POST of `body` as `who`, as `content_type` when given.
    fn post(&self, who: &str, path: &str, content_type: Option<&str>, body: Vec<u8>) -> tests::Reply {
        self.who(who).post_bytes(path, content_type, body)
    }

    /// A GET as `who` (no cookie).
    fn get(&self, who: &str, path: &str) -> tests::Reply {
        self.who(who).get(path)
    }
}

/// Whether `actual` has the shape `pattern` describes (see the module's documentation); `Err` says where not.
fn matches(pattern: &Value, actual: Option<&Value>, at: &str) -> Result<(), String> {
    let fail = || {
        Err(format!(
            "at {at}: expected {pattern}, found {}",
            actual.map_or("nothing".into(), Value::to_string)
        ))
    };
    if let Some(p) = pattern.as_str().filter(|p| p.starts_with('<') && p.ends_with('>')) {
        let ok = match (p, actual) {
            ("<absent>", a) => a.is_none(),
            ("<any>", a) => a.is_some(),
            ("<string>", Some(Value::String(_))) => true,
            ("<number>", Some(Value::Number(_))) => true,
            ("<array>", Some(Value::Array(_))) => true,
            (p, Some(Value::String(s))) if p.starts_with("<prefix:") => s.starts_with(&p[8..p.len() - 1]),
            _ => false,
        };
        return if ok { Ok(()) } else { fail() };
    }
    match (pattern, actual) {
        (Value::Object(p), Some(Value::Object(a))) => {
            for (k, v) in p {
                matches(v, a.get(k), &format!("{at}.{k}"))?;
            }
            Ok(())
        }
        (Value::Array(p), Some(Value::Array(a))) if p.len() == a.len() => {
            for (i, (pv, av)) in p.iter().zip(a).enumerate() {
                matches(pv, Some(av), &format!("{at}[{i}]"))?;
            }
            Ok(())
        }
        (p, Some(a)) if p == a => Ok(()),
        _ => fail(),
    }
}

/// One behaviour: who asks, the request (a GET of the path, or a POST with a body), and the status and shape of the
/// answer.
struct Row {
    behaviour: &'static str,
    who: &'static str,
    path: String,
    /// A POST's `Content-Type` (if any) and body.
    body: Option<(Option<&'static str>, Vec<u8>)>,
    status: u16,
    shape: Value,
}

fn row(behaviour: &'static str, who: &'static str, path: &str, status: u16, shape: Value) -> Row {
    Row {
        behaviour,
        who,
        path: path.to_owned(),
        body: None,
        status,
        shape,
    }
}

impl Row {
    /// The same row as a POST of `body`, with `content_type` as its `Content-Type` (`None`: no such header).
    fn posting(mut self, content_type: Option<&'static str>, body: impl Into<Vec<u8>>) -> Row {
        self.body = Some((content_type, body.into()));
        self
    }
}

/// The boundary of [`multipart`]'s bodies.
const BOUNDARY: &str = "tweakgate-conformance";
const MULTIPART: &str = "multipart/form-data; boundary=tweakgate-conformance";

/// A `multipart/form-data` body holding these fields, as PHP's curl sends an array.
fn multipart(fields: &[(&str, &str)]) -> String {
    let mut body = String::new();
    for (name, value) in fields {
        body.push_str(&format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str(&format!("--{BOUNDARY}--\r\n"));
    body
}

fn ok(command: &str) -> Value {
    json!({"version": 1, "command": command, "result": 1, "reason": "OK"})
}

/// A failed call: `result` 0 and no `data` key at all (WHM never answers `data: null`).
fn failed(command: &str, reason: &str) -> Value {
    json!({"metadata": {"version": 1, "command": command, "result": 0, "reason": reason}, "data": "<absent>"})
}

/// `{acl: 0|1}` over every built-in ACL, 1 for those named.
fn acl_map(on: &[&str]) -> Value {
    let m: Map<String, Value> = Acl::iter()
        .map(|a| (a.name().to_owned(), json!(u8::from(on.contains(&a.name())))))
        .collect();
    Value::Object(m)
}

fn run(h: &Askers<'_>, rows: &[Row]) {
    let mut failures = Vec::new();
    for r in rows {
        let reply = match &r.body {
            None => h.get(r.who, &r.path),
            Some((content_type, body)) => h.post(r.who, &r.path, *content_type, body.clone()),
        };
        let shape = serde_json::from_str::<Value>(&reply.body)
            .map_err(|e| format!("not JSON ({e}): {}", reply.body))
            .and_then(|body| matches(&r.shape, Some(&body), "$").map_err(|e| format!("{e}\n  body: {body}")));
        if reply.status != r.status {
            failures.push(format!(
                "{}: status {} (expected {}): {}",
                r.behaviour, reply.status, r.status, reply.body
            ));
        } else if let Err(e) = shape {
            failures.push(format!("{}: {e}", r.behaviour));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

#[test]
fn whm_api_1_as_clients_know_it() {
    let p = TestPanel::open(&cast());
    let h = askers(&p);
    let unknown1 = "Unknown app (\"no_such_function\") requested for this version (1) of the API.";
    let all_only = acl_map(&["all"]);
    let rows = vec![
        // Header authentication on every URL form.
        row(
            "an Authorization header authenticates /cpsess…/json-api/ without a cookie",
            "root",
            "/cpsess0123456789/json-api/version?api.version=1",
            200,
            json!({"metadata": ok("version"), "data": {"version": "11.134.0.0"}}),
        ),
        // Parameters in the body, whatever its content type (the query holds none here).
        row(
            "API 1 version with api.version=1 in an octet-stream body (Perl's HTTP::Tiny)",
            "root",
            "/json-api/version",
            200,
            json!({"metadata": ok("version"), "data": {"version": "11.134.0.0"}}),
        )
        .posting(Some("application/octet-stream"), "api.version=1"),
        row(
            "get_tweaksetting with its parameters in an octet-stream body",
            "root",
            "/json-api/get_tweaksetting",
            200,
            json!({"metadata": ok("get_tweaksetting"), "data": {"tweaksetting": {"key": "csp"}}}),
        )
        .posting(Some("application/octet-stream"), "api.version=1&key=csp"),
        row(
            "get_tweaksetting with its parameters in a text/plain body",
            "root",
            "/cpsess0123456789/json-api/get_tweaksetting",
            200,
            json!({"metadata": ok("get_tweaksetting"), "data": {"tweaksetting": {"key": "csp"}}}),
        )
        .posting(Some("text/plain; charset=utf-8"), "api.version=1&key=csp"),
        row(
            "API 1 version with a body and no content type: still read as a form",
            "root",
            "/json-api/version",
            200,
            json!({"metadata": ok("version"), "data": {"version": "11.134.0.0"}}),
        )
        .posting(None, "api.version=1"),
        row(
            "API 1 version with api.version in a JSON object (a number)",
            "root",
            "/json-api/version",
            200,
            json!({"metadata": ok("version"), "data": {"version": "11.134.0.0"}}),
        )
        .posting(Some("application/json"), r#"{"api.version": 1}"#),
        row(
            "get_tweaksetting with its parameters in a JSON object",
            "root",
            "/cpsess0123456789/json-api/get_tweaksetting",
            200,
            json!({"metadata": ok("get_tweaksetting"), "data": {"tweaksetting": {"key": "csp"}}}),
        )
        .posting(Some("application/json; charset=utf-8"), r#"{"api.version": "1", "key": "csp", "module": "Main"}"#),
        row(
            "setacls with its parameters in a JSON object (booleans as their words)",
            "root",
            "/json-api/setacls",
            200,
            json!({"metadata": ok("setacls"), "data": "<absent>"}),
        )
        .posting(
            Some("application/json"),
            r#"{"api.version": 1, "reseller": "carol", "acl-all": true, "acl-create-user-session": 1}"#,
        ),
        row(
            "API 1 version with api.version in a multipart field",
            "root",
            "/json-api/version",
            200,
            json!({"metadata": ok("version"), "data": {"version": "11.134.0.0"}}),
        )
        .posting(Some(MULTIPART), multipart(&[("api.version", "1")])),
        row(
            "setacls with its parameters as multipart fields (PHP's curl with an array)",
            "root",
            "/json-api/setacls",
            200,
            json!({"metadata": ok("setacls"), "data": "<absent>"}),
        )
        .posting(
            Some(MULTIPART),
            multipart(&[("api.version", "1"), ("reseller", "carol"), ("acl-all", "1"), ("acl-create-user-session", "1")]),
        ),
        row(
            "… and carol still holds all, as the multipart call gave",
            "carol",
            "/json-api/myprivs?api.version=1",
            200,
            json!({"data": {"privileges": [acl_map(&["all"])]}}),
        ),
        row(
            "setacls without a reseller, its other parameters in an octet-stream body: WHM's reason, not API 0's",
            "root",
            "/json-api/setacls",
            200,
            failed("setacls", "No reseller specified."),
        )
        .posting(Some("application/octet-stream"), "api.version=1&acl-list-accts=1"),
        row(
            "a body that is not JSON under application/json: result 0 naming the content type",
            "root",
            "/json-api/version?api.version=1",
            400,
            json!({"metadata": {"version": 1, "command": "version", "result": 0,
                "reason": "<prefix:The request body (application/json) is not valid JSON: >"}, "data": "<absent>"}),
        )
        .posting(Some("application/json"), r#"{"api.version": "#),
        row(
            "a JSON body that is not an object",
            "root",
            "/json-api/version?api.version=1",
            400,
            failed(
                "version",
                "The request body (application/json) must be a JSON object of parameters, not a list.",
            ),
        )
        .posting(Some("application/json"), r#"["api.version", 1]"#),
        row(
            "a JSON body holding an object for a parameter",
            "root",
            "/json-api/version?api.version=1",
            400,
            failed(
                "version",
                "The request body (application/json) holds an object for \"api\"; a parameter is a string, a number, a boolean or a list of them.",
            ),
        )
        .posting(Some("application/json"), r#"{"api": {"version": 1}}"#),
        row(
            "a multipart body without its boundary",
            "root",
            "/json-api/version?api.version=1",
            400,
            json!({"metadata": {"result": 0,
                "reason": "<prefix:The request body (multipart/form-data) cannot be read as multipart/form-data: >"}, "data": "<absent>"}),
        )
        .posting(Some("multipart/form-data"), multipart(&[("api.version", "1")])),
        row(
            "a body over 1 MiB: 413 with WHM's envelope",
            "root",
            "/json-api/version?api.version=1",
            413,
            failed("version", "The request body is larger than 1048576 bytes."),
        )
        .posting(Some("application/octet-stream"), vec![b'a'; (1 << 20) + 1]),
        row(
            "an unreadable body without a credential is still 401",
            "intruder",
            "/json-api/version?api.version=1",
            401,
            failed("", "Access denied"),
        )
        .posting(Some("application/json"), "{"),
        // Unknown functions.
        row(
            "an unknown function is HTTP 200, result 0, WHM's reason (API 1)",
            "root",
            "/json-api/no_such_function?api.version=1",
            200,
            failed("no_such_function", unknown1),
        ),
        row(
            "an unknown function in API 0",
            "root",
            "/json-api/no_such_function",
            200,
            json!({"error": "Unknown App Requested for this version (0) of the api: no_such_function", "status": "<absent>", "statusmsg": "<absent>", "metadata": "<absent>"}),
        ),
        // API 0.
        row(
            "API 0 version: the data at the top level",
            "root",
            "/json-api/version",
            200,
            json!({"version": "11.134.0.0", "metadata": "<absent>"}),
        ),
        row(
            "API 0 myprivs: {privs:{…}}",
            "bob",
            "/json-api/myprivs",
            200,
            json!({"privs": acl_map(&["manage-api-tokens", "list-accts", "create-user-session"]), "metadata": "<absent>"}),
        ),
        row(
            "an API-1-only function answers API 0 as unknown",
            "root",
            "/json-api/get_tweaksetting?key=allow_deprecated_accesshash",
            200,
            json!({"error": "Unknown App Requested for this version (0) of the api: get_tweaksetting"}),
        ),
        row(
            "the plugin's accesshash answers API 0 as unknown",
            "root",
            "/json-api/accesshash",
            200,
            json!({"error": "Unknown App Requested for this version (0) of the api: accesshash"}),
        ),
        row(
            "API 0 applist lists only the functions API 0 serves",
            "root",
            "/json-api/applist",
            200,
            json!({"app": ["applist", "listacls", "listresellers", "myprivs", "saveacllist", "setacls", "version"], "metadata": "<absent>"}),
        ),
        row(
            "API 1 applist still lists every function, the plugin's too",
            "root",
            "/json-api/applist?api.version=1",
            200,
            json!({"metadata": ok("applist"), "data": {"app": [
                "accesshash", "accountsummary", "add_configclusterserver", "api_token_create", "api_token_list",
                "api_token_revoke", "applist", "create_user_session", "delete_configclusterserver", "get_tweaksetting",
                "list_configclusterservers", "listaccts", "listacls", "listresellers", "myprivs", "saveacllist",
                "set_tweaksetting", "setacls", "update_configclusterserver", "version"]}}),
        ),
        // Failures carry no data, whoever refuses.
        row(
            "a failed authentication: 401, result 0, no data key",
            "intruder",
            "/json-api/version?api.version=1",
            401,
            json!({"metadata": {"result": 0, "reason": "Access denied"}, "data": "<absent>"}),
        ),
        row(
            "a refusal by the gate: 403, result 0, no data key",
            "bob",
            "/json-api/get_tweaksetting?api.version=1&key=csp",
            403,
            json!({"metadata": {"command": "get_tweaksetting", "result": 0, "reasons": "<array>"}, "data": "<absent>"}),
        ),
        // myprivs.
        row(
            "myprivs for root: all 1, every other ACL 0",
            "root",
            "/json-api/myprivs?api.version=1",
            200,
            json!({"metadata": ok("myprivs"), "data": {"privileges": [all_only.clone()]}}),
        ),
        row(
            "myprivs for a reseller holding all: all 1, every other ACL 0",
            "carol",
            "/json-api/myprivs?api.version=1",
            200,
            json!({"data": {"privileges": [all_only]}}),
        ),
        // Booleans and accesshash.
        row(
            "accesshash generate=yes makes a key",
            "root",
            "/json-api/accesshash?api.version=1&generate=yes",
            200,
            json!({"metadata": ok("accesshash"), "data": {"accesshash": "<string>"}}),
        ),
        row(
            "accesshash generate=TRUE makes a key",
            "bob",
            "/json-api/accesshash?api.version=1&generate=TRUE",
            200,
            json!({"metadata": ok("accesshash"), "data": {"accesshash": "<string>"}}),
        ),
        row(
            "a non-root generating another user's key",
            "bob",
            "/json-api/accesshash?api.version=1&user=root&generate=on",
            200,
            failed(
                "accesshash",
                "You do not have access to generate another user's accesshash",
            ),
        ),
        row(
            "a Tweak Setting switch takes the word off",
            "root",
            "/json-api/set_tweaksetting?api.version=1&key=csp&value=off",
            200,
            json!({"metadata": ok("set_tweaksetting"), "data": "<absent>"}),
        ),
        // Tweak Settings.
        row(
            "get_tweaksetting omits value when the key has none",
            "root",
            "/json-api/get_tweaksetting?api.version=1&key=maxemailsperhour",
            200,
            json!({"data": {"tweaksetting": {"key": "maxemailsperhour", "value": "<absent>"}}}),
        ),
        row(
            "get_tweaksetting: an unknown key",
            "root",
            "/json-api/get_tweaksetting?api.version=1&key=no_such_key",
            200,
            failed("get_tweaksetting", "Invalid tweaksetting key"),
        ),
        row(
            "get_tweaksetting: an empty module is Main",
            "root",
            "/json-api/get_tweaksetting?api.version=1&key=csp&module=",
            200,
            json!({"metadata": ok("get_tweaksetting"), "data": {"tweaksetting": {"key": "csp", "value": "0"}}}),
        ),
        row(
            "set_tweaksetting: an empty module is Main",
            "root",
            "/json-api/set_tweaksetting?api.version=1&key=csp&value=1&module=",
            200,
            json!({"metadata": ok("set_tweaksetting"), "data": "<absent>"}),
        ),
        row(
            "get_tweaksetting: … and the value was set",
            "root",
            "/json-api/get_tweaksetting?api.version=1&key=csp&module=",
            200,
            json!({"data": {"tweaksetting": {"key": "csp", "value": "1"}}}),
        ),
        row(
            "get_tweaksetting: a module WHM does not have",
            "root",
            "/json-api/get_tweaksetting?api.version=1&key=csp&module=Nope",
            200,
            failed("get_tweaksetting", "Invalid tweaksetting module"),
        ),
        row(
            "get_tweaksetting: the Status section's loadthreshold, undefined by default",
            "root",
            "/json-api/get_tweaksetting?api.version=1&key=loadthreshold",
            200,
            json!({"data": {"tweaksetting": {"key": "loadthreshold", "value": "<absent>"}}}),
        ),
        row(
            "set_tweaksetting: a decimal setting takes a decimal",
            "root",
            "/json-api/set_tweaksetting?api.version=1&key=loadthreshold&value=2.5",
            200,
            json!({"metadata": ok("set_tweaksetting"), "data": "<absent>"}),
        ),
        row(
            "get_tweaksetting: the decimal as stored",
            "root",
            "/json-api/get_tweaksetting?api.version=1&key=loadthreshold",
            200,
            json!({"data": {"tweaksetting": {"key": "loadthreshold", "value": "2.5"}}}),
        ),
        row(
            "set_tweaksetting: a decimal setting refuses a word",
            "root",
            "/json-api/set_tweaksetting?api.version=1&key=loadthreshold&value=high",
            200,
            failed(
                "set_tweaksetting",
                "Invalid value for loadthreshold; The setting will not be updated.",
            ),
        ),
        row(
            "set_tweaksetting: a decimal above its maximum",
            "root",
            "/json-api/set_tweaksetting?api.version=1&key=file_upload_max_bytes&value=10240.5",
            200,
            failed(
                "set_tweaksetting",
                "Invalid value for file_upload_max_bytes; The setting will not be updated.",
            ),
        ),
        row(
            "set_tweaksetting: no value makes a decimal undefined again",
            "root",
            "/json-api/set_tweaksetting?api.version=1&key=loadthreshold",
            200,
            json!({"metadata": ok("set_tweaksetting"), "data": "<absent>"}),
        ),
        row(
            "get_tweaksetting: undefined again",
            "root",
            "/json-api/get_tweaksetting?api.version=1&key=loadthreshold",
            200,
            json!({"data": {"tweaksetting": {"key": "loadthreshold", "value": "<absent>"}}}),
        ),
        row(
            "set_tweaksetting: a full path for dnsadminapp",
            "root",
            "/json-api/set_tweaksetting?api.version=1&key=dnsadminapp&value=%2Fusr%2Flocal%2Fbin%2Fdnsapp",
            200,
            json!({"metadata": ok("set_tweaksetting"), "data": "<absent>"}),
        ),
        row(
            "set_tweaksetting: a text setting whose default is undefined may be undefined",
            "root",
            "/json-api/set_tweaksetting?api.version=1&key=dnsadminapp",
            200,
            json!({"metadata": ok("set_tweaksetting"), "data": "<absent>"}),
        ),
        row(
            "get_tweaksetting: dnsadminapp undefined again",
            "root",
            "/json-api/get_tweaksetting?api.version=1&key=dnsadminapp",
            200,
            json!({"data": {"tweaksetting": {"key": "dnsadminapp", "value": "<absent>"}}}),
        ),
        row(
            "set_tweaksetting: a value the setting does not take",
            "root",
            "/json-api/set_tweaksetting?api.version=1&key=allow_deprecated_accesshash&value=banana",
            200,
            failed(
                "set_tweaksetting",
                "Invalid value for allow_deprecated_accesshash; The setting will not be updated.",
            ),
        ),
        row(
            "set_tweaksetting: an unknown key",
            "root",
            "/json-api/set_tweaksetting?api.version=1&key=no_such_key&value=1",
            200,
            failed("set_tweaksetting", "Invalid tweaksetting key"),
        ),
        // A reseller's full-access token, before setacls changes bob.
        row(
            "api_token_list: a reseller's full-access token lists exactly the reseller's own ACLs, never all",
            "bob",
            "/json-api/api_token_list?api.version=1",
            200,
            json!({"metadata": ok("api_token_list"), "data": {"tokens": {"conformance": {"name": "conformance",
                "acls": {"manage-api-tokens": 1, "list-accts": 1, "create-user-session": 1,
                    "all": "<absent>", "news": "<absent>", "show-bandwidth": "<absent>"}}}}}),
        ),
        row(
            "api_token_list: a full-access token of a reseller holding all still shows every ACL as 1",
            "carol",
            "/json-api/api_token_list?api.version=1",
            200,
            json!({"data": {"tokens": {"conformance": {"acls": acl_map(&Acl::iter().map(|a| a.name()).collect::<Vec<_>>())}}}}),
        ),
        // WHM API 1's generic list parameters, applied to every list answer: filter, then sort, then chunk, then columns.
        row(
            "listresellers without generic parameters: the whole list and no chunk, filter or sort metadata, still",
            "root",
            "/json-api/listresellers?api.version=1",
            200,
            json!({"metadata": {"version": 1, "command": "listresellers", "result": 1, "reason": "OK",
                "chunk": "<absent>", "filter": "<absent>", "sort": "<absent>"}, "data": {"reseller": ["bob", "carol", "erin", "frank"]}}),
        ),
        row(
            "listresellers sorted: api.sort.a.field names the list's one return, api.sort.a.reverse=1 reverses",
            "root",
            "/json-api/listresellers?api.version=1&api.sort.enable=1&api.sort.a.field=reseller&api.sort.a.reverse=1",
            200,
            json!({"metadata": {"version": 1, "command": "listresellers", "result": 1, "reason": "OK",
                "chunk": "<absent>", "filter": "<absent>"}, "data": {"reseller": ["frank", "erin", "carol", "bob"]}}),
        ),
        row(
            "listresellers filtered with begins (any case): metadata.filter.filtered counts the records kept",
            "root",
            "/json-api/listresellers?api.version=1&api.filter.enable=1&api.filter.a.field=reseller&api.filter.a.type=begins&api.filter.a.arg0=C",
            200,
            json!({"metadata": {"version": 1, "command": "listresellers", "result": 1, "reason": "OK",
                "filter": {"filtered": 1}, "chunk": "<absent>"}, "data": {"reseller": ["carol"]}}),
        ),
        row(
            "listresellers with two filters: a record is kept only when a and b both match",
            "root",
            "/json-api/listresellers?api.version=1&api.filter.enable=1&api.filter.a.field=reseller&api.filter.a.arg0=o&api.filter.b.field=reseller&api.filter.b.type=ends&api.filter.b.arg0=b",
            200,
            json!({"metadata": {"result": 1, "filter": {"filtered": 1}}, "data": {"reseller": ["bob"]}}),
        ),
        row(
            "listresellers paged: api.chunk.start is 1-indexed; metadata.chunk has start, size, records, chunks, current",
            "root",
            "/json-api/listresellers?api.version=1&api.chunk.enable=1&api.chunk.size=1&api.chunk.start=2",
            200,
            json!({"metadata": {"version": 1, "command": "listresellers", "result": 1, "reason": "OK", "filter": "<absent>",
                "chunk": {"start": 2, "size": 1, "records": 4, "chunks": 4, "current": 2}}, "data": {"reseller": ["carol"]}}),
        ),
        row(
            "listresellers filtered, sorted and paged: the page is taken from the sorted, filtered records",
            "root",
            "/json-api/listresellers?api.version=1&api.filter.enable=1&api.filter.a.field=reseller&api.filter.a.arg0=o&api.sort.enable=1&api.sort.a.field=reseller&api.sort.a.reverse=1&api.chunk.enable=1&api.chunk.size=1",
            200,
            json!({"metadata": {"result": 1, "filter": {"filtered": 2},
                "chunk": {"start": 1, "size": 1, "records": 2, "chunks": 2, "current": 1}}, "data": {"reseller": ["carol"]}}),
        ),
        row(
            "listresellers: a start past the last record is an empty page, not an error",
            "root",
            "/json-api/listresellers?api.version=1&api.chunk.enable=1&api.chunk.size=5&api.chunk.start=6",
            200,
            json!({"metadata": {"result": 1, "chunk": {"start": 6, "size": 5, "records": 4, "chunks": 1, "current": 2}},
                "data": {"reseller": []}}),
        ),
        row(
            "listresellers: the generic parameters are ignored without their enable, still",
            "root",
            "/json-api/listresellers?api.version=1&api.chunk.size=1&api.sort.a.field=reseller&api.sort.a.reverse=1",
            200,
            json!({"metadata": {"result": 1, "chunk": "<absent>"}, "data": {"reseller": ["bob", "carol", "erin", "frank"]}}),
        ),
        row(
            "listresellers: an unknown filter type is a failed call naming the parameter and the types",
            "root",
            "/json-api/listresellers?api.version=1&api.filter.enable=1&api.filter.a.field=reseller&api.filter.a.type=like&api.filter.a.arg0=b",
            200,
            failed(
                "listresellers",
                "Invalid value for api.filter.a.type: \"like\" is not a filter type (contains, begins, ends, eq, ==, lt, \
                 lt_equal, lt_handle_unlimited, gt, gt_equal or gt_handle_unlimited).",
            ),
        ),
        row(
            "listresellers: api.chunk.size=0 is a failed call",
            "root",
            "/json-api/listresellers?api.version=1&api.chunk.enable=1&api.chunk.size=0",
            200,
            failed(
                "listresellers",
                "Invalid value for api.chunk.size: \"0\" is not a whole number of at least 1.",
            ),
        ),
        row(
            "listresellers: sorting by a field no record has is a failed call",
            "root",
            "/json-api/listresellers?api.version=1&api.sort.enable=1&api.sort.a.field=owner",
            200,
            failed(
                "listresellers",
                "The field \"owner\" (api.sort.a.field) does not exist in the answer of listresellers.",
            ),
        ),
        // Saved privilege lists and setacls.
        row(
            "saveacllist saves a named list: metadata only",
            "root",
            "/json-api/saveacllist?api.version=1&acllist=billing&acl-list-accts=1&acl-show-bandwidth=1",
            200,
            json!({"metadata": ok("saveacllist"), "data": "<absent>"}),
        ),
        row(
            "listacls: data.acl is a list of {name, privileges}",
            "root",
            "/json-api/listacls?api.version=1",
            200,
            json!({"metadata": ok("listacls"), "data": {"acl": [{"name": "billing", "privileges": acl_map(&["list-accts", "show-bandwidth"])}]}}),
        ),
        row(
            "listacls with api.columns: each record keeps only the returns named",
            "root",
            "/json-api/listacls?api.version=1&api.columns.enable=1&api.columns.a=name",
            200,
            json!({"metadata": ok("listacls"), "data": {"acl": [{"name": "billing", "privileges": "<absent>"}]}}),
        ),
        row(
            "listacls in API 0 keeps the older map form",
            "root",
            "/json-api/listacls",
            200,
            json!({"acls": {"billing": acl_map(&["list-accts", "show-bandwidth"])}, "metadata": "<absent>"}),
        ),
        row(
            "setacls without a reseller",
            "root",
            "/json-api/setacls?api.version=1&acl-list-accts=1",
            200,
            failed("setacls", "No reseller specified."),
        ),
        row(
            "setacls with a saved list that does not exist refuses",
            "root",
            "/json-api/setacls?api.version=1&reseller=bob&acllist=no_such_list",
            200,
            failed("setacls", "The ACL list \"no_such_list\" does not exist."),
        ),
        row(
            "… and the reseller keeps its privileges",
            "bob",
            "/json-api/myprivs?api.version=1",
            200,
            json!({"data": {"privileges": [acl_map(&["manage-api-tokens", "list-accts", "create-user-session"])]}}),
        ),
        row(
            "setacls user= (synonym) with acl-* words: metadata only",
            "root",
            "/json-api/setacls?api.version=1&user=carol&acl-all=yes&acl-create-user-session=on&acl-news=0",
            200,
            json!({"metadata": ok("setacls"), "data": "<absent>"}),
        ),
        row(
            "setacls acllist= applies the saved list",
            "root",
            "/json-api/setacls?api.version=1&reseller=bob&acllist=billing",
            200,
            json!({"metadata": ok("setacls"), "data": "<absent>"}),
        ),
        // API tokens.
        row(
            "api_token_create: expires_at=0 is never; acls and whitelist_ips echoed",
            "root",
            "/json-api/api_token_create?api.version=1&token_name=limited&expires_at=0&acl-0=list-accts&whitelist_ip-0=10.0.0.0/8",
            200,
            json!({"metadata": ok("api_token_create"), "data": {"token": "<string>", "name": "limited", "create_time": "<number>", "expires_at": null, "acls": ["list-accts"], "whitelist_ips": ["10.0.0.0/8"]}}),
        ),
        row(
            "api_token_create: no list, no addresses",
            "root",
            "/json-api/api_token_create?api.version=1&token_name=full",
            200,
            json!({"data": {"name": "full", "acls": "<absent>", "whitelist_ips": null}}),
        ),
        row(
            "api_token_create from a JSON object: lists are repeated parameters",
            "root",
            "/json-api/api_token_create",
            200,
            json!({"metadata": ok("api_token_create"), "data": {"name": "from_json", "acls": ["list-accts", "news"],
                "whitelist_ips": ["10.0.0.0/8", "192.168.0.0/16"]}}),
        )
        .posting(
            Some("application/json"),
            r#"{"api.version": 1, "token_name": "from_json", "acl": ["list-accts", "news"], "whitelist_ip": ["10.0.0.0/8", "192.168.0.0/16"]}"#,
        ),
        row(
            "api_token_list: acls over every ACL, whitelist_ips null when unset",
            "root",
            "/json-api/api_token_list?api.version=1",
            200,
            json!({"metadata": ok("api_token_list"), "data": {"tokens": {
                "full": {"name": "full", "create_time": "<number>", "expires_at": null, "acls": acl_map(&Acl::iter().map(|a| a.name()).collect::<Vec<_>>()), "whitelist_ips": null},
                "limited": {"name": "limited", "acls": acl_map(&["list-accts"]), "whitelist_ips": ["10.0.0.0/8"]},
            }}}),
        ),
        row(
            "api_token_list sorted by name, reversed, and paged: data.tokens stays an object keyed by name, holding the page",
            "root",
            "/json-api/api_token_list?api.version=1&api.sort.enable=1&api.sort.a.field=name&api.sort.a.reverse=1&api.chunk.enable=1&api.chunk.size=2",
            200,
            json!({"metadata": {"version": 1, "command": "api_token_list", "result": 1, "reason": "OK", "filter": "<absent>",
                "chunk": {"start": 1, "size": 2, "records": 4, "chunks": 2, "current": 1}},
                "data": {"tokens": {"limited": {"name": "limited"}, "full": {"name": "full"},
                    "from_json": "<absent>", "conformance": "<absent>"}}}),
        ),
        row(
            "api_token_list, the second page of the same sort",
            "root",
            "/json-api/api_token_list?api.version=1&api.sort.enable=1&api.sort.a.field=name&api.sort.a.reverse=1&api.chunk.enable=1&api.chunk.size=2&api.chunk.start=3",
            200,
            json!({"metadata": {"result": 1, "chunk": {"start": 3, "size": 2, "records": 4, "chunks": 2, "current": 2}},
                "data": {"tokens": {"from_json": {"name": "from_json"}, "conformance": {"name": "conformance"},
                    "limited": "<absent>", "full": "<absent>"}}}),
        ),
        row(
            "api_token_list filtered with == on has_full_access: the limited tokens",
            "root",
            "/json-api/api_token_list?api.version=1&api.filter.enable=1&api.filter.a.field=has_full_access&api.filter.a.type===&api.filter.a.arg0=0",
            200,
            json!({"metadata": {"version": 1, "command": "api_token_list", "result": 1, "reason": "OK",
                "filter": {"filtered": 2}, "chunk": "<absent>"},
                "data": {"tokens": {"limited": {"has_full_access": 0}, "from_json": {"has_full_access": 0},
                    "full": "<absent>", "conformance": "<absent>"}}}),
        ),
        row(
            "api_token_list filtered (contains ignores case), then paged: metadata.chunk.records counts what the filter kept",
            "root",
            "/json-api/api_token_list?api.version=1&api.filter.enable=1&api.filter.a.field=name&api.filter.a.type=contains&api.filter.a.arg0=F&api.chunk.enable=1&api.chunk.size=1",
            200,
            json!({"metadata": {"result": 1, "filter": {"filtered": 3},
                "chunk": {"start": 1, "size": 1, "records": 3, "chunks": 3, "current": 1}},
                "data": {"tokens": {"conformance": {"name": "conformance"},
                    "full": "<absent>", "from_json": "<absent>", "limited": "<absent>"}}}),
        ),
        row(
            "api_token_list: a numeric sort of a field that is not a number is a failed call naming the value",
            "root",
            "/json-api/api_token_list?api.version=1&api.sort.enable=1&api.sort.a.field=name&api.sort.a.method=numeric",
            200,
            failed(
                "api_token_list",
                "Cannot sort api_token_list by \"name\" (api.sort.a.field) as numbers: \"conformance\" is not one.",
            ),
        ),
        row(
            "api_token_list: a numeric filter type with an arg0 that is not a number is a failed call",
            "root",
            "/json-api/api_token_list?api.version=1&api.filter.enable=1&api.filter.a.field=create_time&api.filter.a.type=gt&api.filter.a.arg0=yesterday",
            200,
            failed(
                "api_token_list",
                "Invalid value for api.filter.a.arg0: \"yesterday\" is not a number, as the filter type \"gt\" needs.",
            ),
        ),
        row(
            "api_token_revoke skips names that do not exist and succeeds",
            "root",
            "/json-api/api_token_revoke?api.version=1&token_name-0=limited&token_name-1=no_such_token",
            200,
            json!({"metadata": ok("api_token_revoke")}),
        ),
        // create_user_session.
        row(
            "create_user_session requires service",
            "root",
            "/json-api/create_user_session?api.version=1&user=root",
            200,
            failed("create_user_session", "Missing parameter: service"),
        ),
        row(
            "create_user_session for cpaneld says this panel does not serve it",
            "root",
            "/json-api/create_user_session?api.version=1&user=root&service=cpaneld",
            200,
            failed("create_user_session", "This panel does not serve cpaneld."),
        ),
        row(
            "create_user_session: reason Created session, an absolute url naming this server (not the request's Host), the service",
            "root",
            "/json-api/create_user_session?api.version=1&user=root&service=whostmgrd",
            200,
            json!({"metadata": {"result": 1, "reason": "Created session"}, "data": {
                "url": "<prefix:http://127.0.0.1:2086/cpsess>", "cp_security_token": "<prefix:/cpsess>",
                "session": "<string>", "expires": "<number>", "service": "whostmgrd"}}),
        ),
        // The Configuration Cluster, last: a member makes every later change a queued push.
        row(
            "add_configclusterserver: a member by URL, still",
            "root",
            "/json-api/add_configclusterserver?api.version=1&name=http%3A%2F%2F127.0.0.1%3A9&key=ABCDEFGHIJKLMNOPQRSTUVWXYZ012345",
            200,
            json!({"metadata": ok("add_configclusterserver"), "data": {"server": {"name": "http://127.0.0.1:9", "user": "root"}}}),
        ),
        row(
            "list_configclusterservers: data is an object keyed by member name, never a list",
            "root",
            "/json-api/list_configclusterservers?api.version=1",
            200,
            json!({"metadata": ok("list_configclusterservers"), "data": {
                "servers": "<absent>",
                "http://127.0.0.1:9": {"user": "root", "signature": "<string>", "url": "http://127.0.0.1:9"},
            }}),
        ),
        row(
            "delete_configclusterserver: still metadata only",
            "root",
            "/json-api/delete_configclusterserver?api.version=1&name=http%3A%2F%2F127.0.0.1%3A9",
            200,
            json!({"metadata": ok("delete_configclusterserver"), "data": "<absent>"}),
        ),
        row(
            "list_configclusterservers: no member is an empty object",
            "root",
            "/json-api/list_configclusterservers?api.version=1",
            200,
            json!({"metadata": ok("list_configclusterservers"), "data": {"servers": "<absent>"}}),
        ),
    ];
    run(&h, &rows);
    assert_eq!(
        p.privileges("bob").unwrap(),
        ["list-accts", "show-bandwidth"],
        "setacls acllist= gives the reseller exactly the saved list"
    );
    let saved = std::fs::read_to_string(p.state_dir().join("acllists/billing")).unwrap();
    assert_eq!(saved.lines().count(), 64, "one acl=0|1 line per built-in ACL: {saved}");
    assert!(saved.contains("list-accts=1\n") && saved.contains("all=0\n"), "{saved}");
}

/// Every operation that declares a list answers WHM API 1's generic parameters by that declaration alone: asked for
/// pages of one record, it answers at most one record and `metadata.chunk`, whatever the list holds.
#[test]
fn every_list_operation_pages_its_list() {
    let p = TestPanel::open(&cast());
    let h = askers(&p);
    // Two of each where it is cheap, so a page of one has something to leave out.
    p.as_named("root", "second");
    let listing: Vec<_> = panel::whm::OPERATIONS
        .iter()
        .filter_map(|op| op.list.map(|l| (op.name, l)))
        .collect();
    assert!(
        listing.iter().any(|(name, _)| *name == "listresellers"),
        "listresellers declares its list: {listing:?}"
    );
    let mut wrong = Vec::new();
    for (name, list) in listing {
        let reply = h.get(
            "root",
            &format!("/json-api/{name}?api.version=1&api.chunk.enable=1&api.chunk.size=1"),
        );
        let body = reply.json();
        let items = list.locate(&body["data"]).and_then(|l| match l {
            Value::Array(a) => Some(a.len()),
            Value::Object(m) => Some(m.len()),
            _ => None,
        });
        let chunk = &body["metadata"]["chunk"];
        let ok = reply.status == 200
            && body["metadata"]["result"] == 1
            && items.is_some_and(|n| n <= 1)
            && chunk["size"] == 1
            && chunk["start"] == 1
            && chunk["records"]
                .as_u64()
                .is_some_and(|r| r as usize >= items.unwrap_or(0));
        if !ok {
            wrong.push(format!("{name} ({list:?}): {} {}", reply.status, reply.body));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// A throttled caller's 429 is the same envelope as every failure: `result` 0 and no `data` key.
#[test]
fn a_throttled_caller_gets_a_failure_envelope_without_data() {
    let p = TestPanel::open(&cast().server("auth_failure_limit = 2"));
    let h = askers(&p);
    let mut last = None;
    for _ in 0..5 {
        last = Some(h.get("intruder", "/json-api/version?api.version=1"));
    }
    let reply = last.unwrap();
    assert_eq!(reply.status, 429, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["metadata"]["result"], 0, "{body}");
    assert!(body.get("data").is_none(), "no data key: {body}");
}

/// A password login as a client makes one (spec §6), or a browser.
struct Login {
    behaviour: &'static str,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
    status: u16,
    /// The JSON answer's shape (`login_only=1`); `None`: not JSON.
    shape: Option<Value>,
    /// Whether the answer starts a session that then serves `version`.
    session: bool,
}

/// Scripts log in with `POST /login` and no form nonce, with or without `login_only=1`, and use the cookie and the
/// `/cpsess…` prefix they are given; a browser's cross-site post without the nonce is login CSRF and is refused.
#[test]
fn clients_log_in_with_a_password_and_cross_site_posts_without_the_nonce_are_refused() {
    let p = TestPanel::open(&cast().root_password("a long password"));
    let form = "user=root&pass=a+long+password";
    let foreign = &[("origin", "https://evil.example")];
    let rows = [
        Login {
            behaviour: "a client's POST /login without nonce or content type: a redirect into /cpsess…/ and the cookie",
            path: "/login",
            headers: &[],
            body: form,
            status: 303,
            shape: None,
            session: true,
        },
        Login {
            behaviour: "POST /login/?login_only=1 as octet-stream: JSON status, security_token, redirect and the cookie",
            path: "/login/?login_only=1",
            headers: &[("content-type", "application/octet-stream")],
            body: form,
            status: 200,
            shape: Some(json!({"status": 1, "security_token": "<prefix:/cpsess>", "redirect": "<prefix:/cpsess>"})),
            session: true,
        },
        Login {
            behaviour: "a post from this server's own origin without the nonce",
            path: "/login/",
            headers: &[
                ("origin", "http://panel.example:2087"),
                ("referer", "http://panel.example:2087/login/"),
                ("sec-fetch-site", "same-origin"),
            ],
            body: form,
            status: 303,
            shape: None,
            session: true,
        },
        Login {
            behaviour: "a browser's cross-site post without the nonce is still refused: another Origin",
            path: "/login/",
            headers: foreign,
            body: form,
            status: 403,
            shape: None,
            session: false,
        },
        Login {
            behaviour: "… Origin: null",
            path: "/login/",
            headers: &[("origin", "null")],
            body: form,
            status: 403,
            shape: None,
            session: false,
        },
        Login {
            behaviour: "… Sec-Fetch-Site: cross-site",
            path: "/login/",
            headers: &[("sec-fetch-site", "cross-site")],
            body: form,
            status: 403,
            shape: None,
            session: false,
        },
        Login {
            behaviour: "… a Referer of another site",
            path: "/login/",
            headers: &[("referer", "https://evil.example/page")],
            body: form,
            status: 403,
            shape: None,
            session: false,
        },
        Login {
            behaviour: "… with login_only=1: JSON status 0",
            path: "/login/?login_only=1",
            headers: foreign,
            body: form,
            status: 403,
            shape: Some(json!({"status": 0, "message": "<string>", "security_token": "<absent>"})),
            session: false,
        },
        Login {
            behaviour: "a nonce that is not the form's is still refused, marks or not",
            path: "/login/",
            headers: &[],
            body: "csrf_token=forged&user=root&pass=a+long+password",
            status: 403,
            shape: None,
            session: false,
        },
        Login {
            behaviour: "login_only=1 with a wrong password: 401, JSON status 0",
            path: "/login/?login_only=1",
            headers: &[],
            body: "user=root&pass=wrong",
            status: 401,
            shape: Some(json!({"status": 0, "message": "The login is invalid.", "security_token": "<absent>"})),
            session: false,
        },
    ];
    let mut failures = Vec::new();
    for r in &rows {
        let mut client = p.anonymous().header("host", HOST);
        for (k, v) in r.headers {
            client = client.header(k, v);
        }
        let reply = client.post_bytes(r.path, None, r.body.into());
        let cookie = reply.set_cookie("whostmgrsession");
        if reply.status != r.status {
            failures.push(format!(
                "{}: status {} (expected {}): {}",
                r.behaviour, reply.status, r.status, reply.body
            ));
            continue;
        }
        let mut prefix = reply.header("location").map(|l| l.trim_end_matches('/').to_owned());
        if let Some(shape) = &r.shape {
            let body = serde_json::from_str::<Value>(&reply.body).unwrap_or(Value::Null);
            if let Err(e) = matches(shape, Some(&body), "$") {
                failures.push(format!("{}: {e}\n  body: {}", r.behaviour, reply.body));
                continue;
            }
            prefix = body["security_token"].as_str().map(str::to_owned);
        }
        match (r.session, cookie, prefix) {
            (false, None, _) => {}
            (false, Some(c), _) => failures.push(format!("{}: a session cookie was set: {c}", r.behaviour)),
            (true, Some(cookie), Some(prefix)) if prefix.starts_with("/cpsess") => {
                let version = p
                    .anonymous()
                    .header("cookie", &cookie)
                    .get(&format!("{prefix}/json-api/version?api.version=1"));
                let ok = version.status == 200
                    && serde_json::from_str::<Value>(&version.body).is_ok_and(|v| v["data"]["version"] == "11.134.0.0");
                if !ok {
                    failures.push(format!(
                        "{}: the session does not serve version: {}",
                        r.behaviour, version.body
                    ));
                }
            }
            (true, cookie, prefix) => failures.push(format!(
                "{}: no session (cookie {cookie:?}, prefix {prefix:?}): {}",
                r.behaviour, reply.body
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

/// The link's security token is the session's: a client that calls `<cp_security_token>/json-api/…` after the link
/// was redeemed reaches the same session.
#[test]
fn the_redeemed_session_keeps_the_security_token_it_was_created_with() {
    let p = TestPanel::open(&cast());
    let h = askers(&p);
    let made = h.get(
        "root",
        "/json-api/create_user_session?api.version=1&user=bob&service=whostmgrd",
    );
    assert_eq!(made.status, 200, "{}", made.body);
    let data = made.json()["data"].clone();
    let url = data["url"].as_str().unwrap();
    let redeemed = p.anonymous().get(&url[url.find("/cpsess").unwrap()..]);
    assert_eq!(redeemed.status, 303, "{}", redeemed.body);
    let location = redeemed.header("location").unwrap();
    assert_eq!(
        location,
        format!("{}/", data["cp_security_token"].as_str().unwrap()),
        "the session lives under the token create_user_session answered"
    );
    let cookie = redeemed.set_cookie("whostmgrsession").unwrap();
    let privs = p.anonymous().header("cookie", &cookie).get(&format!(
        "{}/json-api/myprivs?api.version=1",
        data["cp_security_token"].as_str().unwrap()
    ));
    assert_eq!(privs.status, 200, "{}", privs.body);
    assert_eq!(privs.json()["data"]["privileges"][0]["list-accts"], 1);
}

/// A key that a native `cpanel.config` holds but the schema does not model is a known key.
#[test]
fn an_unmodelled_native_key_is_a_known_tweak_setting() {
    let p = TestPanel::open(&Cast::standard().without_plugins().native_cpanel_config(CPANEL_CONFIG));
    let h = askers(&p);
    let rows = vec![
        row(
            "set_tweaksetting of a key cpanel.config holds but the schema does not model",
            "root",
            "/json-api/set_tweaksetting?api.version=1&key=some_unmodelled_key&value=43",
            200,
            json!({"metadata": ok("set_tweaksetting"), "data": "<absent>"}),
        ),
        row(
            "get_tweaksetting returns its stored value",
            "root",
            "/json-api/get_tweaksetting?api.version=1&key=some_unmodelled_key",
            200,
            json!({"data": {"tweaksetting": {"key": "some_unmodelled_key", "value": "43"}}}),
        ),
        row(
            "a key neither the schema nor cpanel.config holds is still unknown",
            "root",
            "/json-api/get_tweaksetting?api.version=1&key=no_such_key",
            200,
            failed("get_tweaksetting", "Invalid tweaksetting key"),
        ),
    ];
    run(&h, &rows);
    let text = std::fs::read_to_string(p.dir.path().join("cpanel.config")).unwrap();
    assert!(text.contains("some_unmodelled_key=43\n"), "{text}");
}

/// A native `cpanel.config` with odd values loads: each odd value is kept and answered as stored, its fallback
/// decides (an invalid `allow_deprecated_accesshash` is Off), and a write of another key keeps its line byte for byte.
#[test]
fn odd_native_values_are_kept_and_their_fallback_decides() {
    let p = TestPanel::open(
        &Cast::standard()
            .without_plugins()
            .plugin("remote-access-key", "")
            .native_cpanel_config(ODD_CPANEL_CONFIG),
    );
    let h = askers(&p);
    let lines: Vec<(usize, String)> = p.warnings();
    let lines: Vec<(usize, &str)> = lines.iter().map(|(l, k)| (*l, k.as_str())).collect();
    assert_eq!(
        lines,
        [
            (2, "allow_deprecated_accesshash"),
            (3, "loadthreshold"),
            (4, "maxcpsrvdconnections"),
            (7, "dormant_services")
        ]
    );
    let hidden = h.get("root", "/json-api/accesshash?api.version=1");
    assert_eq!(hidden.status, 403, "{}", hidden.body);
    assert_eq!(hidden.reason_codes(), ["SETTING_DISABLED"], "{}", hidden.body);
    let rows = vec![
        row(
            "get_tweaksetting answers an invalid value as stored",
            "root",
            "/json-api/get_tweaksetting?api.version=1&key=allow_deprecated_accesshash",
            200,
            json!({"data": {"tweaksetting": {"key": "allow_deprecated_accesshash", "value": "yes"}}}),
        ),
        row(
            "get_tweaksetting answers an invalid decimal as stored, spaces and all",
            "root",
            "/json-api/get_tweaksetting?api.version=1&key=loadthreshold",
            200,
            json!({"data": {"tweaksetting": {"key": "loadthreshold", "value": "high "}}}),
        ),
        row(
            "set_tweaksetting of another key still works",
            "root",
            "/json-api/set_tweaksetting?api.version=1&key=csp&value=1",
            200,
            json!({"metadata": ok("set_tweaksetting"), "data": "<absent>"}),
        ),
        row(
            "set_tweaksetting still refuses an invalid value",
            "root",
            "/json-api/set_tweaksetting?api.version=1&key=maxcpsrvdconnections&value=more",
            200,
            failed(
                "set_tweaksetting",
                "Invalid value for maxcpsrvdconnections; The setting will not be updated.",
            ),
        ),
    ];
    run(&h, &rows);
    let text = std::fs::read_to_string(p.dir.path().join("cpanel.config")).unwrap();
    assert_eq!(
        text,
        ODD_CPANEL_CONFIG.replace("\ncsp=0\n", "\ncsp=1\n"),
        "only the changed line differs"
    );
    assert!(p.is_on("csp"));
    assert_eq!(p.warnings().len(), 4, "the reload kept the warnings");

    // The page says so, shows the value as written, and saving it untouched keeps it.
    let root = p.as_("root").in_session();
    let page = root.page("/tweak-settings?find=loadthreshold");
    assert!(
        page.body
            .contains("cpanel.config holds a value this setting does not take; undefined is in force."),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains(r#"<input name="set-loadthreshold" id="set-loadthreshold" value="high ">"#),
        "{}",
        page.body
    );
    let nonce = root.nonce();
    let saved = root.post(
        "/tweak-settings",
        &format!("csrf_token={nonce}&set-loadthreshold=high+&set-maxcpsrvdconnections=lots&set-csp=0"),
    );
    assert!(
        saved
            .body
            .contains("Saved: Enable Content-Security-Policy on some interfaces."),
        "{}",
        saved.body
    );
    let text = std::fs::read_to_string(p.dir.path().join("cpanel.config")).unwrap();
    assert_eq!(text, ODD_CPANEL_CONFIG, "the odd lines are as they were");

    // get_tweaksetting answers every catalogue key and every key of the native file, with the stored value.
    let mut keys: Vec<String> = settings::schema::keys().map(str::to_owned).collect();
    keys.extend(p.explicit_settings());
    assert!(keys.iter().any(|k| k == "loadthreshold") && keys.iter().any(|k| k == "some_unmodelled_key"));
    let stored: Vec<(String, Option<String>)> = keys
        .into_iter()
        .map(|k| {
            let v = p.setting(&k);
            (k, v)
        })
        .collect();
    let mut wrong = Vec::new();
    for (key, value) in stored {
        let reply = h.get("root", &format!("/json-api/get_tweaksetting?api.version=1&key={key}"));
        let body = reply.json();
        let want = json!({"key": key, "value": value});
        let mut got = body["data"]["tweaksetting"].clone();
        if got.get("value").is_none() {
            got["value"] = Value::Null;
        }
        if body["metadata"]["result"] != 1 || got != want {
            wrong.push(format!("{key}: {}", reply.body));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The privileges page's words are WHM's: ACL titles and category titles as WHM's *Edit Reseller Nameservers and
/// Privileges* shows them (cPanel's `Whostmgr::ACLS::Data`).
#[test]
fn acl_titles_and_categories_are_whms() {
    let rows: &[(&str, &str, &str, &str)] = &[
        (
            "show-bandwidth",
            "View Account Bandwidth Usage",
            "Standard Privileges",
            "Account Information",
        ),
        (
            "mailcheck",
            "Troubleshoot Mail Delivery",
            "Standard Privileges",
            "Troubleshooting",
        ),
        (
            "acct-summary",
            "Account Summary",
            "Basic Privileges",
            "Initial Privileges",
        ),
        (
            "cors-proxy-get",
            "Allow CORS HTTP Requests",
            "Basic Privileges",
            "Initial Privileges",
        ),
        ("add-pkg", "Add/Remove Packages", "Standard Privileges", "Packages"),
        (
            "viewglobalpackages",
            "Use Root Packages",
            "Package Privileges",
            "Package Access",
        ),
        (
            "resftp",
            "Resynchronize FTP Passwords",
            "Global Privileges",
            "Troubleshooting",
        ),
        ("clustering", "DNS Clustering", "Super Privileges", "Clustering"),
        ("all", "All Features", "Root Access", "Everything"),
    ];
    let mut wrong = Vec::new();
    for (name, title, category, group) in rows {
        let info = Acl::from_name(name).unwrap().info();
        if (info.title, info.category, info.group) != (*title, *category, *group) {
            wrong.push(format!(
                "{name}: {:?} in {:?} » {:?}, WHM shows {title:?} in {category:?} » {group:?}",
                info.title, info.category, info.group
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The privileges page saves the ticked privileges as a named list and applies a saved list to a reseller, through
/// `saveacllist` and `setacls`; applying a list that does not exist changes nothing.
#[test]
fn the_privileges_page_saves_and_applies_named_lists() {
    let p = TestPanel::open(&cast());
    let root = p.as_("root").in_session();
    let post = |form: &str| {
        let nonce = root.nonce();
        root.post("/edit-reseller-privileges", &format!("csrf_token={nonce}&{form}"))
    };
    let privileges_of = |user: &str| p.privileges(user).expect("a reseller");
    let bob_before = privileges_of("bob");

    let saved = post("reseller=bob&acl-list-accts=1&acl-news=1&acllist=support&action=save-list");
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert!(saved.body.contains("saved as the list “support”"), "{}", saved.body);
    assert_eq!(
        privileges_of("bob"),
        bob_before,
        "saving a list does not change the reseller"
    );
    let page = post("reseller=bob&acllist=no_such_list&action=apply-list");
    assert!(page.body.contains("does not exist"), "{}", page.body);
    assert_eq!(privileges_of("bob"), bob_before, "a missing list wipes nothing");
    assert!(
        page.body.contains("support"),
        "the saved lists are offered: {}",
        page.body
    );

    let applied = post("reseller=bob&acllist=support&action=apply-list");
    assert!(applied.body.contains("was applied to bob"), "{}", applied.body);
    assert_eq!(privileges_of("bob"), ["list-accts", "news"]);
}
