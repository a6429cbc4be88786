//! The Tweak Settings schema: every key Tweakgate knows, with its section, type, default, label and help.
//!
//! Values are kept in the form `/var/cpanel/cpanel.config` stores them; the kind says how a stored value is shown and checked.

use std::fmt;

mod catalogue;
mod value;

pub use self::catalogue::SETTINGS;

/// The Tweak Settings tab a key appears on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Section {
    Security,
    System,
    Mail,
    Display,
    Notifications,
    Domains,
    Logging,
    Compression,
    #[serde(rename = "PHP")]
    Php,
    Redirection,
    #[serde(rename = "SQL")]
    Sql,
    Software,
    #[serde(rename = "Stats and Logs")]
    StatsAndLogs,
    #[serde(rename = "Stats Programs")]
    StatsPrograms,
    Status,
    Support,
    #[serde(rename = "cPAddons Site Software")]
    CpAddons,
    Packages,
    Development,
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
            Section::Logging => "Logging",
            Section::Compression => "Compression",
            Section::Php => "PHP",
            Section::Redirection => "Redirection",
            Section::Sql => "SQL",
            Section::Software => "Software",
            Section::StatsAndLogs => "Stats and Logs",
            Section::StatsPrograms => "Stats Programs",
            Section::Status => "Status",
            Section::Support => "Support",
            Section::CpAddons => "cPAddons Site Software",
            Section::Packages => "Packages",
            Section::Development => "Development",
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
    /// A percentage above 0 and at most 100; decimals allowed (WHM stores e.g. `90.0000`).
    Percentage,
    /// A file mode of four octal digits whose first is 0 or 1 (e.g. `0640`).
    Permissions,
    /// Empty, or a comma-separated list of names from the given set (a multiselect).
    Subset(&'static [&'static str]),
    /// A full path: it starts with `/` (WHM also requires the file to be executable on its own server).
    FullPath,
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
    /// A decimal number such as `2.5`, as WHM's `_is_float` takes it: an optional `-`, digits, optionally a point and
    /// more digits (no exponent); the bounds are whole numbers.
    Decimal {
        /// The lower bound; with `above_minimum` the value must be greater than it, otherwise at least it.
        minimum: Option<i64>,
        above_minimum: bool,
        maximum: Option<i64>,
        unit: Option<&'static str>,
        /// What *undefined* means, when it is allowed ("unlimited").
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

// Row constructors for the wider catalogue: each argument is one column of the documentation's table.

const fn on_off(
    key: &'static str,
    section: Section,
    default: bool,
    label: &'static str,
    help: &'static str,
) -> SettingDef {
    in_section(binary(key, default, label, help), section)
}

/// An inversebinary setting; `stored_default` is the stored value (`skipanalog=0` is shown as *Enable Analog stats: On*).
const fn inverse(
    key: &'static str,
    section: Section,
    stored_default: bool,
    label: &'static str,
    help: &'static str,
) -> SettingDef {
    SettingDef {
        kind: SettingKind::InverseBinary,
        ..on_off(key, section, stored_default, label, help)
    }
}

const fn choice(
    key: &'static str,
    section: Section,
    options: &'static [RadioOption],
    default: &'static str,
    label: &'static str,
    help: &'static str,
) -> SettingDef {
    in_section(radio(key, options, default, label, help), section)
}

/// A number that may not be undefined.
#[allow(clippy::too_many_arguments)]
const fn count(
    key: &'static str,
    section: Section,
    minimum: Option<i64>,
    maximum: Option<i64>,
    unit: Option<&'static str>,
    default: &'static str,
    label: &'static str,
    help: &'static str,
) -> SettingDef {
    number(key, section, minimum, maximum, unit, None, Some(default), label, help)
}

const fn text(
    key: &'static str,
    section: Section,
    rule: TextRule,
    default: &'static str,
    label: &'static str,
    help: &'static str,
) -> SettingDef {
    SettingDef {
        key,
        section,
        kind: SettingKind::Text { rule },
        default: Some(default),
        label,
        help,
        deprecation: None,
    }
}

/// A decimal number that may be undefined (WHM's `can_undef`), at least `minimum` or, with `above_minimum`, greater.
#[allow(clippy::too_many_arguments)]
const fn decimal(
    key: &'static str,
    section: Section,
    (minimum, above_minimum): (Option<i64>, bool),
    maximum: Option<i64>,
    unit: Option<&'static str>,
    undefined_means: &'static str,
    label: &'static str,
    help: &'static str,
) -> SettingDef {
    SettingDef {
        key,
        section,
        kind: SettingKind::Decimal {
            minimum,
            above_minimum,
            maximum,
            unit,
            undefined_means: Some(undefined_means),
        },
        default: None,
        label,
        help,
        deprecation: None,
    }
}

/// One of the System section's `ionice` settings: a best-effort I/O priority from 0 (highest) to 7 (lowest).
const fn ionice(key: &'static str, default: &'static str, label: &'static str) -> SettingDef {
    count(
        key,
        Section::System,
        Some(0),
        Some(7),
        None,
        default,
        label,
        "The I/O priority (0 is highest, 7 lowest) at which the system runs this work.",
    )
}

/// One of the Notifications section's usage thresholds, a percentage that may have decimals.
const fn percent(key: &'static str, default: &'static str, label: &'static str, help: &'static str) -> SettingDef {
    text(key, Section::Notifications, TextRule::Percentage, default, label, help)
}

/// One of the Notifications section's "Bandwidth usage warning: N%" switches.
const fn bandwidth(key: &'static str, default: bool, label: &'static str) -> SettingDef {
    on_off(
        key,
        Section::Notifications,
        default,
        label,
        "Notify users when their bandwidth use reaches this share of their limit.",
    )
}

/// The key that gates the Remote Access Key feature.
pub const ALLOW_DEPRECATED_ACCESSHASH: &str = "allow_deprecated_accesshash";

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

    /// The value in force when a native file holds one the schema rejects: the default, except that a switch gating a
    /// deprecated feature (`allow_deprecated_accesshash`) falls back to Off, the safe side, whatever its default.
    pub fn fallback(&self) -> Option<&'static str> {
        if self.deprecation.is_some() && self.is_switch() {
            Some("0")
        } else {
            self.default
        }
    }

    /// Checks a value in stored form (as `cpanel.config` holds it); `None` is *undefined*.
    pub fn check_stored(&self, value: Option<&str>) -> Result<(), String> {
        if let Some(v) = value {
            crate::native::check_one_line(v)?;
        }
        let Some(v) = value else {
            return match self.kind {
                SettingKind::Number {
                    undefined_means: Some(_),
                    ..
                }
                | SettingKind::Decimal {
                    undefined_means: Some(_),
                    ..
                } => Ok(()),
                // A setting whose default is undefined may be undefined (WHM's `can_undef`).
                _ if self.default.is_none() => Ok(()),
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
            SettingKind::Decimal { .. } => {
                let d = parse_decimal(v)
                    .ok_or_else(|| format!("expected a decimal number such as 2.5, found \"{}\"", v.escape_debug()))?;
                self.check_decimal_range(v, d)
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
            SettingKind::Text {
                rule: TextRule::Percentage,
            } => {
                let digits = v.split_once('.').map_or((v, "0"), |(w, f)| (w, f));
                let well_formed = !digits.0.is_empty()
                    && digits.0.bytes().all(|b| b.is_ascii_digit())
                    && digits.1.bytes().all(|b| b.is_ascii_digit());
                match v.parse::<f64>() {
                    Ok(p) if well_formed && p > 0.0 && p <= 100.0 => Ok(()),
                    _ => Err(format!(
                        "expected a percentage above 0 and at most 100, found \"{}\"",
                        v.escape_debug()
                    )),
                }
            }
            SettingKind::Text {
                rule: TextRule::Permissions,
            } => {
                let b = v.as_bytes();
                if b.len() == 4 && matches!(b[0], b'0' | b'1') && b[1..].iter().all(|c| (b'0'..=b'7').contains(c)) {
                    Ok(())
                } else {
                    Err(format!(
                        "expected a file mode such as 0640, found \"{}\"",
                        v.escape_debug()
                    ))
                }
            }
            SettingKind::Text {
                rule: TextRule::FullPath,
            } => {
                if v.starts_with('/') {
                    Ok(())
                } else {
                    Err(format!(
                        "expected a full path starting with \"/\", found \"{}\"",
                        v.escape_debug()
                    ))
                }
            }
            SettingKind::Text {
                rule: TextRule::Subset(names),
            } => match v.split(',').find(|n| !v.is_empty() && !names.contains(n)) {
                None => Ok(()),
                Some(n) => Err(format!(
                    "\"{}\" is not one of {}",
                    n.escape_debug(),
                    names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ")
                )),
            },
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

    fn check_decimal_range(&self, written: &str, d: f64) -> Result<(), String> {
        if let SettingKind::Decimal {
            minimum,
            above_minimum,
            maximum,
            unit,
            ..
        } = self.kind
        {
            let unit = unit.map(|u| format!(" {u}")).unwrap_or_default();
            let written = written.escape_debug();
            match minimum {
                Some(min) if above_minimum && d <= min as f64 => {
                    return Err(format!("{written} is not above {min}{unit}"));
                }
                Some(min) if d < min as f64 => {
                    return Err(format!("{written} is below the minimum of {min}{unit}"));
                }
                _ => {}
            }
            if let Some(max) = maximum.filter(|m| d > *m as f64) {
                return Err(format!("{written} is above the maximum of {max}{unit}"));
            }
        }
        Ok(())
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
                }
                | SettingKind::Decimal {
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

/// A decimal as WHM's `_is_float` takes it: an optional `-`, digits, optionally `.` and more digits (`.5` too),
/// with no exponent, `inf` or `NaN`.
fn parse_decimal(v: &str) -> Option<f64> {
    let unsigned = v.strip_prefix('-').unwrap_or(v);
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((_, "")) => return None,
        Some((w, f)) => (w, f),
        None => (unsigned, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits(whole) || !digits(fraction) {
        return None;
    }
    v.parse::<f64>().ok().filter(|d| d.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every tab the catalogue uses; each must hold at least one setting.
    const SECTIONS: &[Section] = &[
        Section::Security,
        Section::System,
        Section::Mail,
        Section::Display,
        Section::Notifications,
        Section::Domains,
        Section::Logging,
        Section::Compression,
        Section::Php,
        Section::Redirection,
        Section::Sql,
        Section::Software,
        Section::StatsAndLogs,
        Section::StatsPrograms,
        Section::Status,
        Section::Support,
        Section::CpAddons,
        Section::Packages,
        Section::Development,
        Section::DnsCluster,
    ];

    /// The (section, key) pairs collected from "The cpanel.config File" (cPanel & WHM documentation, version 110),
    /// kept apart from `SETTINGS` so that a key added, dropped or moved in one shows up as a difference.
    const DOCUMENTED: &[(Section, &str)] = &[
        // Compression
        (Section::Compression, "gzip_compression_level"),
        (Section::Compression, "gzip_pigz_block_size"),
        (Section::Compression, "gzip_pigz_processes"),
        // CpAddons
        (Section::CpAddons, "cpaddons_adminemail"),
        (Section::CpAddons, "cpaddons_autoupdate"),
        (Section::CpAddons, "cpaddons_max_moderation_req_all_mod"),
        (Section::CpAddons, "cpaddons_max_moderation_req_per_mod"),
        (Section::CpAddons, "cpaddons_moderation_request"),
        (Section::CpAddons, "cpaddons_no_3rd_party"),
        (Section::CpAddons, "cpaddons_no_modified_cpanel"),
        (Section::CpAddons, "cpaddons_notify_owner"),
        (Section::CpAddons, "cpaddons_notify_root"),
        (Section::CpAddons, "cpaddons_notify_users"),
        // Development
        (Section::Development, "debugui"),
        // Display
        (Section::Display, "default_login_theme"),
        (Section::Display, "display_upgrade_opportunities"),
        (Section::Display, "dns_recursive_query_pool_size"),
        (Section::Display, "file_usage"),
        (Section::Display, "numacctlist"),
        // DnsCluster
        (Section::DnsCluster, "cluster_autodisable_threshold"),
        (Section::DnsCluster, "cluster_failure_notifications"),
        // Domains
        (Section::Domains, "allowparkhostnamedomainsubdomains"),
        (Section::Domains, "allowparkonothers"),
        (Section::Domains, "allowremotedomains"),
        (Section::Domains, "allowresellershostnamedomainsubdomains"),
        (Section::Domains, "allowunregistereddomains"),
        (Section::Domains, "allowwhmparkonothers"),
        (Section::Domains, "autocreateaentries"),
        (Section::Domains, "autodiscover_host"),
        (Section::Domains, "autodiscover_mail_service"),
        (Section::Domains, "autodiscover_proxy_subdomains"),
        (Section::Domains, "autoupdate_certificate_on_hostname_mismatch"),
        (Section::Domains, "blockcommondomains"),
        (Section::Domains, "check_zone_owner"),
        (Section::Domains, "check_zone_syntax"),
        (Section::Domains, "create_account_dkim"),
        (Section::Domains, "create_account_spf"),
        (Section::Domains, "dnsadminapp"),
        (Section::Domains, "overwritecustomproxysubdomains"),
        (Section::Domains, "overwritecustomsrvrecords"),
        (Section::Domains, "proxysubdomains"),
        (Section::Domains, "proxysubdomainsoverride"),
        (Section::Domains, "publichtmlsubsonly"),
        (Section::Domains, "useauthnameservers"),
        // Logging
        (Section::Logging, "dnsadmin_log"),
        (Section::Logging, "dnsadmin_verbose_sync"),
        (Section::Logging, "enable_api_log"),
        (Section::Logging, "log_successful_logins"),
        // Mail
        (Section::Mail, "defaultmailaction"),
        (Section::Mail, "disk_usage_include_mailman"),
        (Section::Mail, "domainowner_mail_pass"),
        (Section::Mail, "email_account_quota_default_selected"),
        (Section::Mail, "email_account_quota_userdefined_default_value"),
        (Section::Mail, "email_outbound_spam_detect_action"),
        (Section::Mail, "email_outbound_spam_detect_enable"),
        (Section::Mail, "email_outbound_spam_detect_threshold"),
        (Section::Mail, "email_send_limits_count_mailman"),
        (Section::Mail, "email_send_limits_defer_cutoff"),
        (Section::Mail, "email_send_limits_max_defer_fail_percentage"),
        (Section::Mail, "email_send_limits_min_defer_fail_to_trigger_protection"),
        (Section::Mail, "emailarchive"),
        (Section::Mail, "emailsperdaynotify"),
        (Section::Mail, "exim-retrytime"),
        (Section::Mail, "eximmailtrap"),
        (Section::Mail, "mailbox_storage_format"),
        (Section::Mail, "maxemailsperhour"),
        (Section::Mail, "nobodyspam"),
        (Section::Mail, "popbeforesmtp"),
        (Section::Mail, "popbeforesmtpsenders"),
        (Section::Mail, "skipboxtrapper"),
        (Section::Mail, "skipmailman"),
        (Section::Mail, "skiproundcube"),
        (Section::Mail, "skipspamassassin"),
        (Section::Mail, "skipspambox"),
        (Section::Mail, "smtpmailgidonly"),
        (Section::Mail, "usemailformailmanurl"),
        // Notifications
        (Section::Notifications, "emailusers_diskusage_critical_contact_admin"),
        (Section::Notifications, "emailusers_diskusage_critical_percent"),
        (Section::Notifications, "emailusers_diskusage_full_contact_admin"),
        (Section::Notifications, "emailusers_diskusage_full_percent"),
        (Section::Notifications, "emailusers_diskusage_warn_contact_admin"),
        (Section::Notifications, "emailusers_diskusage_warn_percent"),
        (Section::Notifications, "emailusers_mailbox_critical_percent"),
        (Section::Notifications, "emailusers_mailbox_full_percent"),
        (Section::Notifications, "emailusers_mailbox_warn_percent"),
        (Section::Notifications, "emailusersbandwidthexceed"),
        (Section::Notifications, "emailusersbandwidthexceed70"),
        (Section::Notifications, "emailusersbandwidthexceed75"),
        (Section::Notifications, "emailusersbandwidthexceed80"),
        (Section::Notifications, "emailusersbandwidthexceed85"),
        (Section::Notifications, "emailusersbandwidthexceed90"),
        (Section::Notifications, "emailusersbandwidthexceed95"),
        (Section::Notifications, "emailusersbandwidthexceed97"),
        (Section::Notifications, "emailusersbandwidthexceed98"),
        (Section::Notifications, "emailusersbandwidthexceed99"),
        (Section::Notifications, "notify_expiring_certificates"),
        (Section::Notifications, "skipboxcheck"),
        (Section::Notifications, "skipbwlimitcheck"),
        (Section::Notifications, "skipdiskcheck"),
        (Section::Notifications, "skipdiskusage"),
        (Section::Notifications, "skipoomcheck"),
        (Section::Notifications, "system_diskusage_critical_percent"),
        (Section::Notifications, "system_diskusage_warn_percent"),
        // Packages
        (Section::Packages, "default_pkg_bwlimit"),
        (Section::Packages, "default_pkg_max_emailacct_quota"),
        (Section::Packages, "default_pkg_quota"),
        // Php
        (Section::Php, "php_max_execution_time"),
        (Section::Php, "php_memory_limit"),
        (Section::Php, "php_post_max_size"),
        (Section::Php, "php_upload_max_filesize"),
        (Section::Php, "phploader"),
        // Redirection
        (Section::Redirection, "alwaysredirecttossl"),
        (Section::Redirection, "cpredirect"),
        (Section::Redirection, "cpredirectssl"),
        (Section::Redirection, "logout_redirect_url"),
        // Security
        (Section::Security, "allow_deprecated_accesshash"),
        // [CFG] files this one under System; [SPEC] keeps it under Security.
        (Section::Security, "allow_login_autocomplete"),
        (Section::Security, "cgihidepass"),
        (Section::Security, "cookieipvalidation"),
        (Section::Security, "coredump"),
        (Section::Security, "csp"),
        (Section::Security, "disable-php-as-reseller-security"),
        (Section::Security, "emailpasswords"),
        (Section::Security, "enablefileprotect"),
        (Section::Security, "jailapache"),
        (Section::Security, "permit_appconfig_entries_without_acls"),
        (Section::Security, "permit_appconfig_entries_without_features"),
        (Section::Security, "permit_unregistered_apps_as_reseller"),
        (Section::Security, "permit_unregistered_apps_as_root"),
        (Section::Security, "referrerblanksafety"),
        (Section::Security, "referrersafety"),
        (Section::Security, "requiressl"),
        (Section::Security, "selfsigned_generation_for_bestavailable_ssl_install"),
        (Section::Security, "show_reboot_banner"),
        (Section::Security, "signature_validation"),
        (Section::Security, "ssh_host_key_checking"),
        (Section::Security, "ssl_default_key_type"),
        (Section::Security, "use_apache_md5_for_htaccess"),
        (Section::Security, "verify_3rdparty_cpaddons"),
        (Section::Security, "xframecpsrvd"),
        // Software
        (Section::Software, "dormant_services"),
        (Section::Software, "maintenance_rpm_version_check"),
        (Section::Software, "maintenance_rpm_version_digest_check"),
        (Section::Software, "pma_disableis"),
        // Sql
        (Section::Sql, "database_prefix"),
        (Section::Sql, "disk_usage_include_sqldbs"),
        (Section::Sql, "force_short_prefix"),
        (Section::Sql, "mycnf_auto_adjust_innodb_buffer_pool_size"),
        (Section::Sql, "mycnf_auto_adjust_maxallowedpacket"),
        (Section::Sql, "mycnf_auto_adjust_openfiles_limit"),
        (Section::Sql, "use_information_schema"),
        (Section::Sql, "usemysqloldpass"),
        // StatsAndLogs
        (Section::StatsAndLogs, "awstatsbrowserupdate"),
        (Section::StatsAndLogs, "default_archive-logs"),
        (Section::StatsAndLogs, "default_remove-old-archived-logs"),
        (Section::StatsAndLogs, "dumplogs"),
        (Section::StatsAndLogs, "exim_retention_days"),
        (Section::StatsAndLogs, "extracpus"),
        (Section::StatsAndLogs, "keepftplogs"),
        (Section::StatsAndLogs, "keeplogs"),
        (Section::StatsAndLogs, "keepstatslog"),
        (Section::StatsAndLogs, "logchmod"),
        (Section::StatsAndLogs, "modsec_keep_hits"),
        (Section::StatsAndLogs, "rotatelogs_size_threshhold_in_megabytes"),
        (Section::StatsAndLogs, "showwhmbwusageinmegs"),
        (Section::StatsAndLogs, "statsloglevel"),
        (Section::StatsAndLogs, "upcp_log_retention_days"),
        // StatsPrograms
        (Section::StatsPrograms, "awstatsreversedns"),
        (Section::StatsPrograms, "skipanalog"),
        (Section::StatsPrograms, "skipawstats"),
        (Section::StatsPrograms, "skipwebalizer"),
        // Status
        (Section::Status, "loadthreshold"),
        // Support
        (Section::Support, "display_cpanel_doclinks"),
        (Section::Support, "send_error_reports"),
        (Section::Support, "update_log_analysis_retention_length"),
        // System
        (Section::System, "account_login_access"),
        (Section::System, "allow_server_info_status_from"),
        (Section::System, "allowcpsslinstall"),
        (Section::System, "apache_port"),
        (Section::System, "apache_ssl_port"),
        (Section::System, "api_shell"),
        (Section::System, "bind_deferred_restart_time"),
        (Section::System, "chkservd_check_interval"),
        (Section::System, "chkservd_hang_allowed_intervals"),
        (Section::System, "chkservd_plaintext_notify"),
        (Section::System, "conserve_memory"),
        (Section::System, "copy_default_error_documents"),
        (Section::System, "cpsrvd-domainlookup"),
        (Section::System, "disable_cphttpd"),
        (Section::System, "disablequotacache"),
        (Section::System, "dnslookuponconnect"),
        (Section::System, "empty_trash_days"),
        (Section::System, "enablecompileroptimizations"),
        (Section::System, "enforce_user_account_limits"),
        (Section::System, "file_upload_max_bytes"),
        (Section::System, "file_upload_must_leave_bytes"),
        (Section::System, "ftpquotacheck_expire_time"),
        (Section::System, "htaccess_check_recurse"),
        (Section::System, "httpd_deferred_restart_time"),
        (Section::System, "invite_sub"),
        (Section::System, "ionice_bandwidth_processing"),
        (Section::System, "ionice_cpbackup"),
        (Section::System, "ionice_dovecot_maintenance"),
        (Section::System, "ionice_email_archive_maintenance"),
        (Section::System, "ionice_ftpquotacheck"),
        (Section::System, "ionice_log_processing"),
        (Section::System, "ionice_quotacheck"),
        (Section::System, "ionice_userbackup"),
        (Section::System, "ionice_userproc"),
        (Section::System, "ipv6_listen"),
        (Section::System, "jaildefaultshell"),
        (Section::System, "jailmountbinsuid"),
        (Section::System, "jailmountusrbinsuid"),
        (Section::System, "jailprocmode"),
        (Section::System, "maxcpsrvdconnections"),
        (Section::System, "maxmem"),
        (Section::System, "min_time_between_apache_graceful_restarts"),
        (Section::System, "nosendlangupdates"),
        (Section::System, "remotewhmtimeout"),
        (Section::System, "repquota_timeout"),
        (Section::System, "resetpass"),
        (Section::System, "resetpass_sub"),
        (Section::System, "rpmup_allow_kernel"),
        (Section::System, "server_locale"),
        (Section::System, "skip_chkservd_recovery_notify"),
        (Section::System, "skip_rules_added_by_configure_firewall_for_cpanel"),
        (Section::System, "skipfirewall"),
        (Section::System, "skipnotifyacctbackupfailure"),
        (Section::System, "skipparentcheck"),
        (Section::System, "tcp_check_failure_threshold"),
        (Section::System, "transfers_timeout"),
    ];

    #[test]
    fn schema_has_every_key_once() {
        let security = SETTINGS.iter().filter(|s| s.section == Section::Security).count();
        assert_eq!(security, 25);
        assert_eq!(SETTINGS.len(), 231);
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
    fn catalogue_matches_the_documented_list() {
        let mut documented_keys: Vec<&str> = DOCUMENTED.iter().map(|(_, k)| *k).collect();
        documented_keys.sort();
        documented_keys.dedup();
        assert_eq!(
            documented_keys.len(),
            DOCUMENTED.len(),
            "a key is listed twice in DOCUMENTED"
        );
        let mut documented: Vec<(String, &str)> = DOCUMENTED.iter().map(|(s, k)| (s.to_string(), *k)).collect();
        documented.sort();
        let mut catalogue: Vec<(String, &str)> = SETTINGS.iter().map(|s| (s.section.to_string(), s.key)).collect();
        catalogue.sort();
        let missing: Vec<_> = documented.iter().filter(|d| !catalogue.contains(d)).collect();
        let extra: Vec<_> = catalogue.iter().filter(|c| !documented.contains(c)).collect();
        assert!(
            missing.is_empty(),
            "documented but not in SETTINGS (or in another section): {missing:?}"
        );
        assert!(
            extra.is_empty(),
            "in SETTINGS but not documented (or in another section): {extra:?}"
        );
    }

    /// How many keys [CFG] files under each section; a section that lost or never got its keys shows up here by name.
    #[test]
    fn every_section_has_its_documented_keys() {
        let expected: &[(Section, usize)] = &[
            (Section::Security, 25),
            (Section::System, 56),
            (Section::Mail, 28),
            (Section::Display, 5),
            (Section::Notifications, 27),
            (Section::Domains, 23),
            (Section::Logging, 4),
            (Section::Compression, 3),
            (Section::Php, 5),
            (Section::Redirection, 4),
            (Section::Sql, 8),
            (Section::Software, 4),
            (Section::StatsAndLogs, 15),
            (Section::StatsPrograms, 4),
            (Section::Status, 1),
            (Section::Support, 3),
            (Section::CpAddons, 10),
            (Section::Packages, 3),
            (Section::Development, 1),
            (Section::DnsCluster, 2),
        ];
        assert_eq!(expected.len(), SECTIONS.len());
        let mut wrong = Vec::new();
        for (section, want) in expected {
            let documented = DOCUMENTED.iter().filter(|(s, _)| s == section).count();
            let catalogued = SETTINGS.iter().filter(|s| s.section == *section).count();
            if (documented, catalogued) != (*want, *want) {
                wrong.push(format!(
                    "{section}: documented {documented}, catalogued {catalogued}, expected {want}"
                ));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn decimals_check_form_range_and_undefined() {
        let l = setting("loadthreshold").unwrap();
        assert_eq!(l.section, Section::Status);
        assert_eq!(l.default, None);
        for ok in [None, Some("2"), Some("2.5"), Some(".5"), Some("0.01"), Some("12.000")] {
            assert!(l.check_stored(ok).is_ok(), "{ok:?}");
        }
        let cases: &[(&str, &str)] = &[
            ("0", "0 is not above 0"),
            ("-1.5", "-1.5 is not above 0"),
            ("2.", "expected a decimal number such as 2.5, found \"2.\""),
            ("1e3", "expected a decimal number such as 2.5, found \"1e3\""),
            ("inf", "expected a decimal number such as 2.5, found \"inf\""),
            ("", "expected a decimal number such as 2.5, found \"\""),
            (" 2", "expected a decimal number such as 2.5, found \" 2\""),
        ];
        for (value, message) in cases {
            assert_eq!(l.check_stored(Some(value)).unwrap_err(), *message, "{value:?}");
        }
        assert_eq!(l.shown(None), "undefined");
        assert_eq!(
            l.stored_from_toml(&toml::Value::Float(2.5)).unwrap().as_deref(),
            Some("2.5")
        );
        assert_eq!(
            l.stored_from_toml(&toml::Value::Integer(3)).unwrap().as_deref(),
            Some("3")
        );
        assert_eq!(
            l.stored_from_toml(&toml::Value::String("undefined".into())).unwrap(),
            None
        );
        assert_eq!(
            l.stored_from_toml(&toml::Value::Boolean(true)).unwrap_err(),
            "expected a number or \"undefined\", found the boolean true"
        );
        let f = setting("file_upload_max_bytes").unwrap();
        assert_eq!(f.section, Section::System);
        assert!(f.check_stored(Some("1")).is_ok());
        assert!(f.check_stored(Some("10240")).is_ok());
        assert_eq!(
            f.check_stored(Some("0.5")).unwrap_err(),
            "0.5 is below the minimum of 1 MB"
        );
        assert_eq!(
            f.check_stored(Some("10240.5")).unwrap_err(),
            "10240.5 is above the maximum of 10240 MB"
        );
        assert_eq!(f.shown(None), "unlimited");
        assert_eq!(
            f.stored_from_toml(&toml::Value::String("unlimited".into())).unwrap(),
            None
        );
    }

    #[test]
    fn newly_documented_keys_check_values() {
        let d = setting("dormant_services").unwrap();
        assert_eq!(d.section, Section::Software);
        assert!(d.check_stored(d.default).is_ok());
        assert!(d.check_stored(Some("cpdavd,exim")).is_err());
        let a = setting("autodiscover_proxy_subdomains").unwrap();
        assert_eq!((a.section, a.default), (Section::Domains, Some("0")));
        let p = setting("dnsadminapp").unwrap();
        assert!(p.check_stored(None).is_ok());
        assert!(p.check_stored(Some("/usr/local/bin/dnsapp")).is_ok());
        assert!(p.check_stored(Some("dnsapp")).is_err());
        // A setting with a defined default still may not be undefined.
        assert!(setting("autodiscover_host").unwrap().check_stored(None).is_err());
    }

    #[test]
    fn every_section_is_used_and_contiguous() {
        for section in SECTIONS {
            assert!(
                SETTINGS.iter().any(|s| s.section == *section),
                "{section} has no settings"
            );
        }
        let mut seen: Vec<Section> = Vec::new();
        for s in SETTINGS {
            if seen.last() != Some(&s.section) {
                assert!(!seen.contains(&s.section), "{} appears in two runs", s.section);
                seen.push(s.section);
            }
        }
        assert_eq!(seen.len(), SECTIONS.len());
        assert_eq!(seen[0], Section::Security);
    }

    /// The Tweak Settings page finds settings by a word of the key or label; the browser tests search for these keys
    /// and expect exactly one row each.
    #[test]
    fn searches_the_panel_tests_rely_on_find_one_setting() {
        for word in [ALLOW_DEPRECATED_ACCESSHASH, "csp", "xframecpsrvd"] {
            let found: Vec<&str> = SETTINGS
                .iter()
                .filter(|d| d.key.to_lowercase().contains(word) || d.label.to_lowercase().contains(word))
                .map(|d| d.key)
                .collect();
            assert_eq!(found, [word], "searching for {word:?}");
        }
    }

    #[test]
    fn defaultmailaction_is_known() {
        let s = setting("defaultmailaction").unwrap();
        assert_eq!(s.section, Section::Mail);
        assert_eq!(s.default, Some("localuser"));
        assert_eq!(s.shown(Some("localuser")), "System account");
        assert!(s.check_stored(Some("fail")).is_ok());
        assert!(s.check_stored(Some("forward")).is_err());
    }

    #[test]
    fn new_text_rules_check_values() {
        let p = setting("system_diskusage_critical_percent").unwrap();
        assert!(p.check_stored(Some("92.55")).is_ok());
        assert!(p.check_stored(Some("90.0000")).is_ok());
        assert!(p.check_stored(Some("0")).is_err());
        assert!(p.check_stored(Some("100.5")).is_err());
        assert!(p.check_stored(Some("-5")).is_err());
        let m = setting("logchmod").unwrap();
        assert!(m.check_stored(Some("0640")).is_ok());
        assert!(m.check_stored(Some("0648")).is_err());
        assert!(m.check_stored(Some("640")).is_err());
        let l = setting("phploader").unwrap();
        assert!(l.check_stored(Some("")).is_ok());
        assert!(l.check_stored(Some("ioncube,sourceguardian")).is_ok());
        assert_eq!(
            l.check_stored(Some("ioncube,zend")).unwrap_err(),
            "\"zend\" is not one of \"ioncube\", \"sourceguardian\""
        );
        let i = setting("skipanalog").unwrap();
        assert_eq!(i.shown(i.default), "On");
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
