//! The panel's pages in a real browser: headless Chromium, driven through chromedriver, logs in, flips Tweak Settings,
//! grants privileges, generates keys and reads the menu — all against one running server — and takes screenshots:
//! under `target/screenshots/`, or where `TWEAKGATE_SCREENSHOTS` says (`docs/screenshots` refreshes the README's).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use tests::{Cast, Reply, TestPanel, request, wait_until};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const ROOT_PASSWORD: &str = "browser root password";
const BOB_PASSWORD: &str = "bob's browser password";
const ACCESSHASH: &str = "allow_deprecated_accesshash";
const RAK: &str = "a[data-feature=remote-access-key]";
const CLUSTERS: &str = "section[data-group=Clusters]";
const WAIT: Duration = Duration::from_secs(15);

/// The cast with passwords for root and bob, bob holding `list-accts` and `create-acct`, the deprecated access keys Off,
/// and the Remote Access Key plugin alone.
fn cast() -> Cast {
    Cast::standard()
        .without_plugins()
        .plugin("remote-access-key", "")
        .setting(ACCESSHASH, "false")
        .root_password(ROOT_PASSWORD)
        .reseller("bob", &["list-accts", "create-acct"])
        .reseller_password("bob", BOB_PASSWORD)
}

/// chromedriver on a free loopback port, killed (with the browsers it started) on drop.
struct Chromedriver {
    child: Child,
    url: String,
    profiles: tempfile::TempDir,
}

impl Chromedriver {
    fn start() -> Chromedriver {
        for (what, path) in [("Chromium", CHROMIUM), ("ChromeDriver", CHROMEDRIVER)] {
            assert!(
                Path::new(path).is_file(),
                "{what} is not installed at {path}. The browser tests need Debian's `chromium` and `chromium-driver` \
                 packages: `apt-get install chromium chromium-driver` (.ci/run installs them)."
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        let driver = Chromedriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            profiles: tempfile::tempdir().expect("temp dir for browser profiles"),
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let start = Instant::now();
        loop {
            // Listening means ready; chromedriver keeps connections open, so no request is read to the end here.
            if TcpStream::connect(addr).is_ok() {
                return driver;
            }
            assert!(start.elapsed() < WAIT, "{CHROMEDRIVER} did not become ready on {addr}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A new headless Chromium with a fresh profile: its own cookie jar, so one browser per user.
    async fn browser(&self, name: &str) -> Client {
        let profile = self.profiles.path().join(name);
        std::fs::create_dir_all(&profile).expect("profile dir");
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,1100", "--hide-scrollbars",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        });
        let serde_json::Value::Object(caps) = caps else {
            unreachable!()
        };
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("Chromium ({CHROMIUM}) did not start through chromedriver: {e}"))
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // TERM first so that chromedriver closes the browsers it launched, then make sure.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(2) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One logged-in browser: the server's base URL and the session's `/cpsess…` prefix.
struct Page {
    c: Client,
    base: String,
    prefix: String,
    who: &'static str,
}

impl Page {
    /// Logs in through the login form and returns the page, now at Home.
    async fn login(c: Client, addr: SocketAddr, who: &'static str, password: &str) -> Page {
        let base = format!("http://{addr}");
        c.goto(&format!("{base}/login/")).await.expect("opening the login page");
        let mut page = Page {
            c,
            base,
            prefix: String::new(),
            who,
        };
        page.find("#user").await.send_keys(who).await.expect("typing the user");
        page.find("#pass")
            .await
            .send_keys(password)
            .await
            .expect("typing the password");
        page.click_and_load("#login_submit").await;
        page.wait_for("nav.top").await;
        let url = page.c.current_url().await.expect("current url");
        let first = url.path().trim_start_matches('/').split('/').next().unwrap_or_default();
        let digits = first.strip_prefix("cpsess").unwrap_or_default();
        assert!(
            digits.len() == 10 && digits.bytes().all(|b| b.is_ascii_digit()),
            "{who}: after login the URL carries /cpsess<10 digits>/: {url}"
        );
        page.prefix = format!("/{first}");
        assert_eq!(page.title().await, "Home", "{who} lands on Home");
        page
    }

    async fn goto(&self, path: &str) {
        let url = format!("{}{}{path}", self.base, self.prefix);
        self.c
            .goto(&url)
            .await
            .unwrap_or_else(|e| panic!("{}: opening {url}: {e}", self.who));
    }

    async fn home(&self) {
        self.goto("/").await;
        assert_eq!(self.title().await, "Home", "{}", self.who);
    }

    async fn find(&self, css: &str) -> Element {
        match self.c.find(Locator::Css(css)).await {
            Ok(e) => e,
            Err(e) => panic!(
                "{}: no `{css}` on {} ({e}); the page says:\n{}",
                self.who,
                self.url().await,
                self.text("body").await
            ),
        }
    }

    async fn wait_for(&self, css: &str) -> Element {
        match self.c.wait().at_most(WAIT).for_element(Locator::Css(css)).await {
            Ok(e) => e,
            Err(e) => panic!(
                "{}: `{css}` did not appear on {} ({e}); the page says:\n{}",
                self.who,
                self.url().await,
                self.text("body").await
            ),
        }
    }

    async fn exists(&self, css: &str) -> bool {
        !self
            .c
            .find_all(Locator::Css(css))
            .await
            .expect("querying elements")
            .is_empty()
    }

    async fn count(&self, css: &str) -> usize {
        self.c
            .find_all(Locator::Css(css))
            .await
            .expect("querying elements")
            .len()
    }

    async fn text(&self, css: &str) -> String {
        match self.c.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.expect("element text"),
            Err(_) => String::new(),
        }
    }

    async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("{}: clicking `{css}`: {e}", self.who));
    }

    /// Clicks something that loads a new page (a link or a submit button) and waits until the new page has loaded,
    /// so that nothing is read from the page being left.
    async fn click_and_load(&self, css: &str) {
        self.c
            .execute("window.__tweakgateLeaving = true;", Vec::new())
            .await
            .expect("marking the page");
        self.click(css).await;
        let start = Instant::now();
        loop {
            let loaded = self
                .c
                .execute(
                    "return window.__tweakgateLeaving === undefined && document.readyState === 'complete';",
                    Vec::new(),
                )
                .await;
            if matches!(loaded, Ok(serde_json::Value::Bool(true))) {
                return;
            }
            assert!(
                start.elapsed() < WAIT,
                "{}: clicking `{css}` did not load a new page; still at {}",
                self.who,
                self.url().await
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn title(&self) -> String {
        self.text("main h1").await
    }

    async fn url(&self) -> String {
        self.c.current_url().await.map(|u| u.to_string()).unwrap_or_default()
    }

    /// The session cookie, so that raw requests can stand in for this browser.
    async fn cookie(&self) -> String {
        let c = self
            .c
            .get_named_cookie("whostmgrsession")
            .await
            .expect("the session cookie");
        format!("{}={}", c.name(), c.value())
    }

    async fn raw(&self, method: &str, path: &str, body: &str) -> Reply {
        let addr: SocketAddr = self.base.trim_start_matches("http://").parse().expect("addr");
        let cookie = self.cookie().await;
        request(
            addr,
            method,
            &format!("{}{path}", self.prefix),
            &[("Cookie", &cookie)],
            body,
        )
    }

    async fn screenshot(&self, name: &str) {
        let png = self.c.screenshot().await.expect("screenshot");
        let dir = match std::env::var_os("TWEAKGATE_SCREENSHOTS") {
            Some(d) => Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(d),
            None => tests::target_dir().join("screenshots"),
        };
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        let path: PathBuf = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }

    /// Asserts whether Clusters » Remote Access Key is in the Home menu (the group goes with it, unless the
    /// Configuration Cluster keeps it).
    async fn assert_menu(&self, shown: bool, when: &str) {
        self.home().await;
        assert_eq!(
            self.exists(RAK).await,
            shown,
            "{}: Remote Access Key in the menu {when}",
            self.who
        );
        // Root also sees Clusters » Configuration Cluster, whatever the setting.
        let cluster_page = self.exists("a[data-feature=configuration-cluster]").await;
        assert_eq!(
            self.exists(CLUSTERS).await,
            shown || cluster_page,
            "{}: the Clusters group renders only with something in it, {when}",
            self.who
        );
    }

    /// Tweak Settings: find an On/Off setting by its name, switch it, save; returns the confirmation.
    async fn set_switch(&self, key: &str, on: bool) -> String {
        self.goto("/tweak-settings").await;
        let find = self.find("#find").await;
        find.clear().await.expect("clearing the search");
        find.send_keys(key).await.expect("typing the search");
        self.click_and_load("#search button").await;
        assert_eq!(
            self.count("tr[id^=row-]").await,
            1,
            "searching for {key:?} leaves one setting"
        );
        self.click(&format!("#set-{key}-{}", if on { 1 } else { 0 })).await;
        self.click_and_load("#save").await;
        let message = self.wait_for("#message").await.text().await.expect("message");
        assert!(
            self.exists(&format!("#set-{key}-{}:checked", if on { 1 } else { 0 }))
                .await,
            "after saving, the page shows {key} as saved"
        );
        message
    }

    /// The Remote Access Key page's key (line breaks removed) and signature.
    async fn key_and_signature(&self) -> (String, String) {
        let text = self
            .find("#accesshash")
            .await
            .prop("value")
            .await
            .expect("textarea value")
            .unwrap_or_default();
        let key: String = text.chars().filter(|c| *c != '\n' && *c != '\r').collect();
        (key, self.text("#signature").await)
    }
}

fn signature_of(key: &str) -> String {
    let hex: Vec<char> = key
        .to_lowercase()
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(32)
        .collect();
    hex.chunks(2)
        .map(|p| p.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(":")
}

fn authenticates(server: &TestPanel, user: &str, key: &str) -> bool {
    let r = server.presenting(&format!("WHM {user}:{key}")).api("applist", "");
    r.status == 200 && r.json()["metadata"]["result"] == 1
}

#[test]
fn the_pages_in_a_real_browser() {
    let started = Instant::now();
    let server = Arc::new(TestPanel::serve(&cast()));
    let driver = Chromedriver::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let outcome = runtime.block_on(async {
        let root_browser = driver.browser("root").await;
        let bob_browser = driver.browser("bob").await;
        let clients = [root_browser.clone(), bob_browser.clone()];
        // The walk runs as its own task so that a failed assertion still lets both browsers close.
        let walk = tokio::spawn(walk(Arc::clone(&server), root_browser, bob_browser));
        let outcome = walk.await;
        for c in clients {
            let _ = c.close().await;
        }
        outcome
    });
    drop(driver);
    if let Err(e) = outcome {
        match e.try_into_panic() {
            Ok(p) => std::panic::resume_unwind(p),
            Err(e) => panic!("the browser walk did not finish: {e}"),
        }
    }
    eprintln!("browser walk took {:?}", started.elapsed());
}

async fn walk(server: Arc<TestPanel>, root_browser: Client, bob_browser: Client) {
    // 1. Root logs in with a password; the session cookie is HttpOnly and SameSite.
    let root = Page::login(root_browser, server.addr(), "root", ROOT_PASSWORD).await;
    let cookie = root
        .c
        .get_named_cookie("whostmgrsession")
        .await
        .expect("session cookie");
    assert_eq!(cookie.http_only(), Some(true), "the session cookie is HttpOnly");
    assert_eq!(
        format!("{:?}", cookie.same_site()),
        "Some(Strict)",
        "the session cookie is SameSite=Strict"
    );
    root.assert_menu(false, "while the setting is Off").await;
    assert!(root.exists("a[data-feature=tweak-settings]").await);

    // A reseller without manage-api-tokens, logged in before anything changes: both reasons while the setting is Off.
    let bob = Page::login(bob_browser, server.addr(), "bob", BOB_PASSWORD).await;
    bob.assert_menu(false, "without the privilege or the setting").await;
    assert!(
        !bob.exists("a[data-feature=tweak-settings]").await,
        "a reseller without all has no Tweak Settings"
    );
    bob.goto("/remote-access-key").await;
    assert_eq!(bob.title().await, "Access Denied");
    let reasons = bob.text("#reasons").await;
    assert!(
        reasons.contains("PRIVILEGE_MISSING") && reasons.contains("SETTING_DISABLED"),
        "every reason is stated: {reasons}"
    );

    // Root turns the setting on in Tweak Settings: the menu entry appears at once.
    let saved = root.set_switch(ACCESSHASH, true).await;
    assert!(
        saved.contains("Allow deprecated WHM accesshash authentication"),
        "{saved}"
    );
    assert_eq!(
        root.text("#row-allow_deprecated_accesshash td:nth-child(3)").await,
        "Off",
        "the default is shown next to the value"
    );
    root.assert_menu(true, "after turning the setting On").await;
    root.screenshot("home").await;
    root.click_and_load(RAK).await;
    root.wait_for("#key-heading").await;
    assert_eq!(
        root.title().await,
        "Remote Access Key",
        "the menu link leads to the page"
    );
    // Off again: gone.
    root.set_switch(ACCESSHASH, false).await;
    root.assert_menu(false, "after turning the setting Off again").await;
    root.set_switch(ACCESSHASH, true).await;
    root.assert_menu(true, "after turning the setting On once more").await;
    root.goto("/tweak-settings").await;
    assert!(root.exists("#set-allow_deprecated_accesshash-1:checked").await);
    assert!(
        root.exists("#set-cookieipvalidation-strict").await,
        "radio settings get radio buttons"
    );
    // Searching by a word of the name keeps the Security section and the setting's row, now On.
    root.goto("/tweak-settings?find=allow").await;
    assert!(root.exists("#set-allow_deprecated_accesshash-1:checked").await);
    assert!(root.exists("#row-allow_login_autocomplete").await);
    assert!(
        !root.exists("#row-coredump").await,
        "rows that do not match are left out"
    );
    root.screenshot("tweak-settings").await;

    // 2. Bob still lacks manage-api-tokens: no menu entry, and the URL gives the 403 page with the reasons.
    bob.assert_menu(false, "without manage-api-tokens").await;
    bob.goto("/remote-access-key").await;
    assert_eq!(bob.title().await, "Access Denied");
    let reasons = bob.text("#reasons").await;
    assert!(reasons.contains("PRIVILEGE_MISSING"), "{reasons}");
    assert!(
        reasons.contains("manage-api-tokens"),
        "the reason names the privilege: {reasons}"
    );
    assert!(
        !reasons.contains("SETTING_DISABLED"),
        "the setting is On now: {reasons}"
    );
    let body = bob.text("body").await;
    assert!(
        !body.contains("Remote Access Key"),
        "the 403 page never names the feature: {body}"
    );
    let raw = bob.raw("GET", "/remote-access-key", "").await;
    assert_eq!(raw.status, 403);
    assert_eq!(
        raw.header("x-frame-options"),
        Some("SAMEORIGIN"),
        "xframecpsrvd defaults On"
    );
    assert_eq!(raw.header("x-content-type-options"), Some("nosniff"));

    // Security headers follow their Tweak Settings at once: csp adds a Content-Security-Policy (the pages keep
    // working under it), xframecpsrvd Off drops X-Frame-Options.
    assert_eq!(raw.header("content-security-policy"), None, "csp defaults Off");
    root.set_switch("csp", true).await;
    root.set_switch("xframecpsrvd", false).await;
    let raw = bob.raw("GET", "/", "").await;
    assert!(
        raw.header("content-security-policy")
            .is_some_and(|v| v.contains("frame-ancestors")),
        "{:?}",
        raw.headers
    );
    assert_eq!(raw.header("x-frame-options"), None);
    root.set_switch("csp", false).await;
    root.set_switch("xframecpsrvd", true).await;
    assert_eq!(bob.raw("GET", "/", "").await.header("content-security-policy"), None);

    // 3. Root grants bob manage-api-tokens on the privileges page: it appears for bob on his next page load.
    root.goto("/edit-reseller-privileges").await;
    root.find("#reseller")
        .await
        .select_by_value("bob")
        .await
        .expect("choosing bob");
    root.click_and_load("#choose button").await;
    root.wait_for("input[name=reseller][value=bob]").await;
    let grant = root.find("#acl-manage-api-tokens").await;
    assert!(!grant.is_selected().await.expect("checkbox state"));
    assert!(
        root.find("#acl-list-accts")
            .await
            .is_selected()
            .await
            .expect("checkbox state")
    );
    grant.click().await.expect("ticking manage-api-tokens");
    root.click_and_load("#acl-form #save").await;
    let msg = root.wait_for("#message").await.text().await.expect("message");
    assert!(msg.contains("Privileges saved"), "{msg}");
    assert!(
        root.find("#acl-manage-api-tokens")
            .await
            .is_selected()
            .await
            .expect("state")
    );
    assert!(
        root.find("#acl-list-accts").await.is_selected().await.expect("state"),
        "other privileges are kept"
    );
    bob.assert_menu(true, "after root granted manage-api-tokens").await;
    bob.click_and_load(RAK).await;
    bob.wait_for("#key-heading").await;
    assert_eq!(bob.text("#key-heading").await, "Access Key For User “bob”");
    assert!(
        bob.text("#first-key").await.starts_with("bob has no access key yet."),
        "a fresh install offers the first key"
    );
    assert_eq!(bob.text("#generate").await, "Generate Key");
    assert!(!bob.exists("#pick-user").await, "only root may load another user's key");
    let link = bob.find("#deprecation a#api-tokens-link").await;
    let href = link.attr("href").await.expect("href").unwrap_or_default();
    assert_eq!(
        href,
        format!("{}/manage-api-tokens", bob.prefix),
        "the warning links to API tokens"
    );

    // 4. Root generates a key, then a new one: the page shows the new key, the signature follows it, the old
    // key stops authenticating.
    root.goto("/remote-access-key").await;
    assert_eq!(root.text("#key-heading").await, "Access Key For User “root”");
    assert!(
        root.exists("#first-key").await,
        "no key yet: the page offers the first one"
    );
    root.click_and_load("#generate").await;
    root.wait_for("#accesshash").await;
    assert!(
        root.text("#generate-form").await.contains("replaces the current one"),
        "once a key exists, the warning is by the button"
    );
    let (first, first_sig) = root.key_and_signature().await;
    assert_eq!(first.len(), 960, "30 lines of 32 hex characters");
    assert_eq!(first_sig, signature_of(&first));
    assert!(
        authenticates(&server, "root", &first),
        "the generated key authenticates"
    );
    root.click_and_load("#generate").await;
    let notice = root.wait_for("#notice").await.text().await.expect("notice");
    assert!(notice.contains("no longer works"), "{notice}");
    let (second, second_sig) = root.key_and_signature().await;
    assert_ne!(second, first, "Generate New Key replaces the key shown");
    assert_eq!(
        second_sig,
        signature_of(&second),
        "the signature is the new key's first 32 hex characters"
    );
    assert_eq!(second_sig.len(), 47);
    assert!(
        !authenticates(&server, "root", &first),
        "the old key no longer authenticates"
    );
    assert!(authenticates(&server, "root", &second), "the new key authenticates");
    root.screenshot("remote-access-key").await;
    // A POST without the one-use form token is refused and changes nothing.
    let forged = root.raw("POST", "/remote-access-key", "generate=1&user=root").await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert!(authenticates(&server, "root", &second), "a forged POST changed nothing");
    // Bob makes his own key; root (who holds all) loads bob's and sees the same signature.
    bob.click_and_load("#generate").await;
    bob.wait_for("#accesshash").await;
    let (bob_key, bob_sig) = bob.key_and_signature().await;
    assert!(authenticates(&server, "bob", &bob_key));
    let pick = root.find("#pick").await;
    pick.clear().await.expect("clearing");
    pick.send_keys("bob").await.expect("typing");
    root.click_and_load("#pick-user button").await;
    root.wait_for("#signature").await;
    assert_eq!(root.text("#key-heading").await, "Access Key For User “bob”");
    assert_eq!(root.key_and_signature().await, (bob_key.clone(), bob_sig));

    // Manage API Tokens: create (shown once), use, revoke.
    bob.goto("/manage-api-tokens").await;
    bob.find("#token_name")
        .await
        .send_keys("billing")
        .await
        .expect("typing");
    bob.click_and_load("#create").await;
    let secret = bob.wait_for("#token-value").await.text().await.expect("token");
    assert!(authenticates(&server, "bob", &secret), "the new token authenticates");
    assert!(bob.text("#tokens").await.contains("billing"));
    bob.goto("/manage-api-tokens").await;
    assert!(!bob.exists("#token-value").await, "a token is shown once");
    bob.click_and_load("#tokens tr[data-token=billing] button").await;
    let msg = bob.wait_for("#message").await.text().await.expect("message");
    assert_eq!(msg, "Token revoked.");
    assert!(!authenticates(&server, "bob", &secret), "a revoked token stops working");

    // Feature Access explains a decision with its reasons.
    root.goto("/feature-access?user=dave&feature=remote-access-key").await;
    assert!(root.text("#decision").await.contains("NOT_A_RESELLER"));
    assert!(root.exists("#matrix").await);

    // 5. Editing the file on disk changes the menu on the next page load, without a restart.
    let path = server.config_path();
    let text = std::fs::read_to_string(&path).expect("reading the config");
    assert!(
        text.contains("allow_deprecated_accesshash = true"),
        "the page wrote the setting to the file:\n{text}"
    );
    let generation = server.generation();
    server.rewrite_config(&text.replace(
        "allow_deprecated_accesshash = true",
        "allow_deprecated_accesshash = false",
    ));
    assert!(
        wait_until(WAIT, || server.generation() > generation).is_some(),
        "the edited file is picked up"
    );
    bob.assert_menu(false, "after the file turned the setting Off").await;
    root.assert_menu(false, "after the file turned the setting Off").await;
    bob.goto("/remote-access-key").await;
    assert_eq!(bob.title().await, "Access Denied");
    assert!(bob.text("#reasons").await.contains("SETTING_DISABLED"));
    assert!(
        !authenticates(&server, "bob", &bob_key),
        "with the setting Off an access key no longer authenticates"
    );
}
