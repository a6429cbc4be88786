//! The Tweak Settings schema: every key Tweakgate knows, with its section, type, default, label and help.
//!
//! Values are kept in the form `/var/cpanel/cpanel.config` stores them; the kind says how a stored value is shown and checked.

use std::fmt;

/// The Tweak Settings tab a key appears on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Section {
    Security,
    System,
    Mail,
    Display,
    Notifications,
    Domains,
    /// Settings WHM shows on the DNS Cluster page rather than in Tweak Settings.
    #[serde(rename = "DNS Cluster")]
    DnsCluster,
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Section::Security => "Security",
            Section::System => "System",
            Section::Mail => "Mail",
            Section::Display => "Display",
            Section::Notifications => "Notifications",
            Section::Domains => "Domains",
            Section::DnsCluster => "DNS Cluster",
        })
    }
}

/// One choice of a radio setting: the stored value and the label WHM shows for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RadioOption {
    pub stored: &'static str,
    pub shown: &'static str,
}

/// Extra rules for a free-text setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum TextRule {
    Any,
    /// The word `disabled` or a whole number.
    DisabledOrWholeNumber,
}

/// How a setting is stored, shown and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum SettingKind {
    /// On/Off, stored `1`/`0`.
    Binary,
    /// On/Off stored `1`/`0`, but the label says the opposite of the stored key.
    InverseBinary,
    Radio {
        options: &'static [RadioOption],
    },
    Number {
        minimum: Option<i64>,
        maximum: Option<i64>,
        unit: Option<&'static str>,
        /// What *undefined* means, when it is allowed ("unlimited", "All").
        undefined_means: Option<&'static str>,
    },
    Text {
        rule: TextRule,
    },
}

/// Deprecation metadata for a setting that gates a deprecated feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Deprecation {
    pub since_version: u32,
    pub replacement: &'static str,
}

/// The definition of one Tweak Setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SettingDef {
    pub key: &'static str,
    pub section: Section,
    #[serde(flatten)]
    pub kind: SettingKind,
    /// The stored default; `None` means *undefined*.
    pub default: Option<&'static str>,
    pub label: &'static str,
    pub help: &'static str,
    pub deprecation: Option<Deprecation>,
}

const fn binary(key: &'static str, default: bool, label: &'static str, help: &'static str) -> SettingDef {
    SettingDef {
        key,
        section: Section::Security,
        kind: SettingKind::Binary,
        default: Some(if default { "1" } else { "0" }),
        label,
        help,
        deprecation: None,
    }
}

const fn radio(
    key: &'static str,
    options: &'static [RadioOption],
    default: &'static str,
    label: &'static str,
    help: &'static str,
) -> SettingDef {
    SettingDef {
        key,
        section: Section::Security,
        kind: SettingKind::Radio { options },
        default: Some(default),
        label,
        help,
        deprecation: None,
    }
}

const fn same(v: &'static str) -> RadioOption {
    RadioOption { stored: v, shown: v }
}

const fn in_section(mut def: SettingDef, section: Section) -> SettingDef {
    def.section = section;
    def
}

// A table row constructor: each argument is one column of the spec's table.
#[allow(clippy::too_many_arguments)]
const fn number(
    key: &'static str,
    section: Section,
    minimum: Option<i64>,
    maximum: Option<i64>,
    unit: Option<&'static str>,
    undefined_means: Option<&'static str>,
    default: Option<&'static str>,
    label: &'static str,
    help: &'static str,
) -> SettingDef {
    SettingDef {
        key,
        section,
        kind: SettingKind::Number {
            minimum,
            maximum,
            unit,
            undefined_means,
        },
        default,
        label,
        help,
        deprecation: None,
    }
}

/// The key that gates the Remote Access Key feature.
pub const ALLOW_DEPRECATED_ACCESSHASH: &str = "allow_deprecated_accesshash";

/// Every Tweak Setting Tweakgate knows; the Security section comes first, in WHM's UI order.
pub static SETTINGS: &[SettingDef] = &[
    binary(
        "allow_login_autocomplete",
        true,
        "Allow autocomplete for login screens",
        "Allow browsers to offer saved usernames and passwords on the login screens.",
    ),
    binary(
        "cgihidepass",
        false,
        "Hide login password from cgi scripts",
        "Hide the login password from CGI scripts that run under cPanel.",
    ),
    radio(
        "cookieipvalidation",
        &[same("disabled"), same("loose"), same("strict")],
        "strict",
        "Cookie IP validation",
        "Check that session cookies come from the address that logged in.",
    ),
    binary(
        "coredump",
        false,
        "Generate core dumps",
        "Allow cPanel services to write core dumps when they crash.",
    ),
    binary(
        "emailpasswords",
        false,
        "Send passwords when creating a new account",
        "Include the new account's password in the account creation email.",
    ),
    binary(
        "enablefileprotect",
        true,
        "Enable File Protect",
        "Protect users' public_html directories from other users.",
    ),
    binary(
        "referrerblanksafety",
        false,
        "Blank referrer safety check",
        "Refuse requests without a referrer that would change data.",
    ),
    binary(
        "referrersafety",
        false,
        "Referrer safety check",
        "Refuse requests whose referrer is another site.",
    ),
    binary(
        "requiressl",
        true,
        "Require SSL for cPanel services",
        "Redirect logins to the SSL ports.",
    ),
    binary(
        "disable-php-as-reseller-security",
        false,
        "Allow PHP to be run when logged in as a reseller to WHM",
        "Let resellers run PHP applications inside WHM.",
    ),
    binary(
        "permit_unregistered_apps_as_reseller",
        false,
        "Allow apps that have not registered with AppConfig to be run when logged in as a reseller to WHM",
        "Let resellers run WHM applications that did not register with AppConfig.",
    ),
    binary(
        "permit_unregistered_apps_as_root",
        false,
        "Allow apps that have not registered with AppConfig to be run when logged in as root or a reseller with the \"all\" ACL",
        "Let root run WHM applications that did not register with AppConfig.",
    ),
    binary(
        "permit_appconfig_entries_without_acls",
        false,
        "Allow WHM apps registered with AppConfig to be executed without specifying an ACL list",
        "Run WHM applications whose AppConfig entry names no ACL.",
    ),
    binary(
        "permit_appconfig_entries_without_features",
        false,
        "Allow cPanel and Webmail apps registered with AppConfig to be executed without specifying a feature list",
        "Run cPanel applications whose AppConfig entry names no feature.",
    ),
    binary(
        "use_apache_md5_for_htaccess",
        true,
        "Use MD5 passwords with Apache",
        "Hash passwords for protected directories with Apache's MD5 scheme.",
    ),
    binary(
        "jailapache",
        false,
        "EXPERIMENTAL: Jail Apache Virtual Hosts using mod_ruid2 and cPanel jailshell",
        "Run virtual hosts of users with jailed shells inside the jail.",
    ),
    radio(
        "signature_validation",
        &[
            same("Off"),
            same("Release Keyring Only"),
            same("Release and Development Keyrings"),
        ],
        "Release Keyring Only",
        "Enable signature validation on assets downloaded from cPanel mirrors",
        "Check the signatures of files downloaded from cPanel mirrors.",
    ),
    radio(
        "ssl_default_key_type",
        &[
            same("rsa-2048"),
            same("rsa-4096"),
            same("ecdsa-prime256v1"),
            same("ecdsa-secp384r1"),
        ],
        "rsa-2048",
        "Default SSL/TLS key type",
        "The key type for new SSL/TLS keys.",
    ),
    binary(
        "selfsigned_generation_for_bestavailable_ssl_install",
        true,
        "Generate a self-signed SSL certificate if a CA-signed certificate is not available",
        "Install a self-signed certificate when no CA-signed one is available.",
    ),
    binary(
        "verify_3rdparty_cpaddons",
        false,
        "Verify signatures of 3rdparty cPaddons",
        "Check the signatures of third-party cPAddons.",
    ),
    SettingDef {
        key: ALLOW_DEPRECATED_ACCESSHASH,
        section: Section::Security,
        kind: SettingKind::Binary,
        default: Some("0"),
        label: "Allow deprecated WHM accesshash authentication",
        help: "Allow ~/.accesshash files to authenticate API calls. This method is deprecated in favour of API tokens. \
               Off on new installations since version 72; servers upgraded from older versions keep the value they had.",
        deprecation: Some(Deprecation {
            since_version: 64,
            replacement: "Manage API Tokens",
        }),
    },
    binary(
        "xframecpsrvd",
        true,
        "Send X-Frame-Options and X-Content-Type-Options headers with cpsrvd",
        "Forbid framing and MIME sniffing of the panel's pages.",
    ),
    radio(
        "ssh_host_key_checking",
        &[
            RadioOption {
                stored: "0",
                shown: "disabled",
            },
            RadioOption {
                stored: "1",
                shown: "enabled",
            },
            RadioOption {
                stored: "dns",
                shown: "dns",
            },
        ],
        "0",
        "Enable strict SSH host key checking",
        "Check remote SSH host keys when the server connects to other servers.",
    ),
    binary(
        "show_reboot_banner",
        true,
        "Display a reboot message after essential updates",
        "Show a banner when an update needs a reboot.",
    ),
    binary(
        "csp",
        false,
        "Enable Content-Security-Policy on some interfaces",
        "Send a Content-Security-Policy header with the panel's pages.",
    ),
    in_section(
        radio(
            "account_login_access",
            &[same("owner_root"), same("owner"), same("user")],
            "owner_root",
            "Accounts that can access a cPanel user account",
            "Which accounts may log in to a cPanel account.",
        ),
        Section::System,
    ),
    in_section(
        binary(
            "api_shell",
            false,
            "Enable the WHM API shell",
            "Offer an interactive API shell in WHM.",
        ),
        Section::System,
    ),
    number(
        "remotewhmtimeout",
        Section::System,
        Some(35),
        None,
        Some("seconds"),
        None,
        Some("35"),
        "Remote WHM timeout",
        "Seconds to wait for a remote WHM server to answer.",
    ),
    number(
        "maxcpsrvdconnections",
        Section::System,
        Some(200),
        Some(16384),
        None,
        None,
        Some("200"),
        "Max cPanel process memory connections",
        "The most connections cpsrvd accepts at once.",
    ),
    SettingDef {
        key: "empty_trash_days",
        section: Section::System,
        kind: SettingKind::Text {
            rule: TextRule::DisabledOrWholeNumber,
        },
        default: Some("disabled"),
        label: "Empty trash after days",
        help: "Days after which files in users' trash are removed, or disabled.",
        deprecation: None,
    },
    number(
        "maxemailsperhour",
        Section::Mail,
        Some(0),
        None,
        Some("emails per hour"),
        Some("unlimited"),
        None,
        "Max hourly emails per domain",
        "The most emails a domain may send per hour.",
    ),
    number(
        "numacctlist",
        Section::Display,
        Some(1),
        None,
        Some("accounts"),
        Some("All"),
        Some("30"),
        "Number of accounts per page to display in WHM's List Accounts",
        "Accounts listed per page.",
    ),
    in_section(
        SettingDef {
            kind: SettingKind::InverseBinary,
            ..binary(
                "skipboxcheck",
                true,
                "Enable mailbox usage warnings",
                "Warn users whose mailboxes are nearly full.",
            )
        },
        Section::Notifications,
    ),
    in_section(
        binary(
            "proxysubdomains",
            true,
            "Service subdomains",
            "Create cpanel., webmail. and whm. proxy subdomains.",
        ),
        Section::Domains,
    ),
    number(
        "cluster_autodisable_threshold",
        Section::DnsCluster,
        Some(0),
        None,
        Some("failures"),
        None,
        Some("10"),
        "Cluster auto-disable threshold",
        "Failures after which a cluster member is disabled.",
    ),
    in_section(
        binary(
            "cluster_failure_notifications",
            true,
            "Cluster failure notifications",
            "Notify when a cluster member fails.",
        ),
        Section::DnsCluster,
    ),
];

/// Looks a key up in the schema.
pub fn setting(key: &str) -> Option<&'static SettingDef> {
    SETTINGS.iter().find(|s| s.key == key)
}

/// All known keys, for suggestions.
pub fn keys() -> impl Iterator<Item = &'static str> {
    SETTINGS.iter().map(|s| s.key)
}

impl SettingDef {
    /// On/Off settings (binary and inversebinary): the kind a feature may require to be on.
    pub fn is_switch(&self) -> bool {
        matches!(self.kind, SettingKind::Binary | SettingKind::InverseBinary)
    }

    /// Checks a value in stored form (as `cpanel.config` holds it); `None` is *undefined*.
    pub fn check_stored(&self, value: Option<&str>) -> Result<(), String> {
        let Some(v) = value else {
            return match self.kind {
                SettingKind::Number {
                    undefined_means: Some(_),
                    ..
                } => Ok(()),
                _ => Err("may not be undefined".to_owned()),
            };
        };
        match self.kind {
            SettingKind::Binary | SettingKind::InverseBinary => match v {
                "0" | "1" => Ok(()),
                _ => Err(format!("expected 1 or 0, found \"{}\"", v.escape_debug())),
            },
            SettingKind::Radio { options } => {
                if options.iter().any(|o| o.stored == v) {
                    Ok(())
                } else {
                    let allowed: Vec<String> = options.iter().map(|o| format!("\"{}\"", o.stored)).collect();
                    Err(format!("\"{}\" is not one of {}", v.escape_debug(), allowed.join(", ")))
                }
            }
            SettingKind::Number { .. } => {
                let n: i64 = v
                    .trim()
                    .parse()
                    .map_err(|_| format!("expected a whole number, found \"{}\"", v.escape_debug()))?;
                self.check_range(n)
            }
            SettingKind::Text { rule: TextRule::Any } => Ok(()),
            SettingKind::Text {
                rule: TextRule::DisabledOrWholeNumber,
            } => {
                if v == "disabled" || (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())) {
                    Ok(())
                } else {
                    Err(format!(
                        "expected \"disabled\" or a whole number, found \"{}\"",
                        v.escape_debug()
                    ))
                }
            }
        }
    }

    fn check_range(&self, n: i64) -> Result<(), String> {
        if let SettingKind::Number {
            minimum, maximum, unit, ..
        } = self.kind
        {
            let unit = unit.map(|u| format!(" {u}")).unwrap_or_default();
            if let Some(min) = minimum.filter(|m| n < *m) {
                return Err(format!("{n} is below the minimum of {min}{unit}"));
            }
            if let Some(max) = maximum.filter(|m| n > *m) {
                return Err(format!("{n} is above the maximum of {max}{unit}"));
            }
        }
        Ok(())
    }

    /// Converts a value written in a TOML config into stored form.
    ///
    /// Binary settings take `true`/`false` or `1`/`0`; radio settings take the stored or the shown value;
    /// numbers that may be undefined take the word WHM shows for it (e.g. `"unlimited"`).
    pub fn stored_from_toml(&self, value: &toml::Value) -> Result<Option<String>, String> {
        use toml::Value as V;
        let stored = match (&self.kind, value) {
            (SettingKind::Binary | SettingKind::InverseBinary, V::Boolean(b)) => {
                Some(if *b { "1" } else { "0" }.to_owned())
            }
            (SettingKind::Binary | SettingKind::InverseBinary, V::Integer(i @ (0 | 1))) => Some(i.to_string()),
            (SettingKind::Binary | SettingKind::InverseBinary, other) => {
                return Err(format!("expected true or false, found {}", describe(other)));
            }
            (SettingKind::Radio { options }, V::String(s)) => {
                match options.iter().find(|o| o.stored == s || o.shown == s) {
                    Some(o) => Some(o.stored.to_owned()),
                    None => {
                        let allowed: Vec<String> = options.iter().map(|o| format!("\"{}\"", o.shown)).collect();
                        return Err(format!("\"{}\" is not one of {}", s.escape_debug(), allowed.join(", ")));
                    }
                }
            }
            (SettingKind::Radio { options }, V::Integer(i)) if options.iter().any(|o| o.stored == i.to_string()) => {
                Some(i.to_string())
            }
            (SettingKind::Radio { .. }, other) => return Err(format!("expected a string, found {}", describe(other))),
            (SettingKind::Number { undefined_means, .. }, V::Integer(i)) => {
                self.check_range(*i)?;
                let _ = undefined_means;
                Some(i.to_string())
            }
            (
                SettingKind::Number {
                    undefined_means: Some(word),
                    ..
                },
                V::String(s),
            ) if s == word || s == "undefined" => None,
            (SettingKind::Number { undefined_means, .. }, other) => {
                let extra = undefined_means.map(|w| format!(" or \"{w}\"")).unwrap_or_default();
                return Err(format!("expected a whole number{extra}, found {}", describe(other)));
            }
            (SettingKind::Text { .. }, V::String(s)) => Some(s.clone()),
            (SettingKind::Text { .. }, V::Integer(i)) => Some(i.to_string()),
            (SettingKind::Text { .. }, other) => return Err(format!("expected a string, found {}", describe(other))),
        };
        self.check_stored(stored.as_deref())?;
        Ok(stored)
    }

    /// The label WHM shows for a stored value (`On`/`Off` for switches, honouring inversebinary).
    pub fn shown(&self, stored: Option<&str>) -> String {
        match (self.kind, stored) {
            (SettingKind::Binary, Some(v)) => if v == "1" { "On" } else { "Off" }.to_owned(),
            (SettingKind::InverseBinary, Some(v)) => if v == "1" { "Off" } else { "On" }.to_owned(),
            (SettingKind::Radio { options }, Some(v)) => {
                options.iter().find(|o| o.stored == v).map_or(v, |o| o.shown).to_owned()
            }
            (
                SettingKind::Number {
                    undefined_means: Some(w),
                    ..
                },
                None,
            ) => w.to_owned(),
            (_, Some(v)) => v.to_owned(),
            (_, None) => "undefined".to_owned(),
        }
    }
}

fn describe(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("the string \"{}\"", s.escape_debug()),
        toml::Value::Integer(i) => format!("the integer {i}"),
        toml::Value::Float(f) => format!("the float {f}"),
        toml::Value::Boolean(b) => format!("the boolean {b}"),
        toml::Value::Datetime(_) => "a datetime".to_owned(),
        toml::Value::Array(_) => "an array".to_owned(),
        toml::Value::Table(_) => "a table".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_has_every_key_once() {
        let security = SETTINGS.iter().filter(|s| s.section == Section::Security).count();
        assert_eq!(security, 25);
        assert_eq!(SETTINGS.len(), 36);
        let mut keys: Vec<_> = keys().collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), SETTINGS.len());
        for s in SETTINGS {
            s.check_stored(s.default)
                .unwrap_or_else(|e| panic!("{}: default {e}", s.key));
        }
    }

    #[test]
    fn accesshash_setting_is_off_and_deprecated() {
        let s = setting(ALLOW_DEPRECATED_ACCESSHASH).unwrap();
        assert_eq!(s.default, Some("0"));
        assert_eq!(s.deprecation.unwrap().since_version, 64);
        assert!(s.is_switch());
    }

    #[test]
    fn radio_stored_differs_from_shown() {
        let s = setting("ssh_host_key_checking").unwrap();
        assert_eq!(
            s.stored_from_toml(&toml::Value::String("enabled".into()))
                .unwrap()
                .as_deref(),
            Some("1")
        );
        assert_eq!(
            s.stored_from_toml(&toml::Value::String("1".into())).unwrap().as_deref(),
            Some("1")
        );
        assert_eq!(s.shown(Some("0")), "disabled");
        assert!(s.check_stored(Some("enabled")).is_err());
    }

    #[test]
    fn inversebinary_label_is_opposite() {
        let s = setting("skipboxcheck").unwrap();
        assert_eq!(s.shown(Some("1")), "Off");
        assert_eq!(s.shown(Some("0")), "On");
    }

    #[test]
    fn numbers_check_range_and_undefined() {
        let t = setting("remotewhmtimeout").unwrap();
        assert_eq!(
            t.stored_from_toml(&toml::Value::Integer(10)).unwrap_err(),
            "10 is below the minimum of 35 seconds"
        );
        let m = setting("maxemailsperhour").unwrap();
        assert_eq!(
            m.stored_from_toml(&toml::Value::String("unlimited".into())).unwrap(),
            None
        );
        assert!(t.check_stored(None).is_err());
        let e = setting("empty_trash_days").unwrap();
        assert!(e.check_stored(Some("30")).is_ok());
        assert!(e.check_stored(Some("soon")).is_err());
    }
}
