//! The catalogue: one row per Tweak Setting, section by section, with WHM's key, label, default and help.

use super::{
    ALLOW_DEPRECATED_ACCESSHASH, Deprecation, RadioOption, Section, SettingDef, SettingKind, TextRule, bandwidth,
    binary, choice, count, decimal, in_section, inverse, ionice, number, on_off, percent, radio, same, text,
};

/// Every Tweak Setting Tweakgate knows, section by section; the Security section comes first, in WHM's UI order.
///
/// Each section's entries are contiguous (the Tweak Settings page groups runs of one section).
//
// Sources, named in the comment above each entry:
// - [CFG] "The cpanel.config File", cPanel & WHM Documentation, version 110
//   (https://docs.cpanel.net/knowledge-base/cpanel-product/the-cpanel-config-file/110/): the key, its Tweak Settings
//   section, its label (or WHM's description where the table gives one) and its default. Every entry is in that table.
// - [SPEC] /work/shared/spec/whm-domain.md section 2, for the keys Tweakgate had before this catalogue.
// - Kinds, choices, ranges and units follow the Tweak Settings pages (https://docs.cpanel.net/whm/server-configuration/
//   tweak-settings/<section>) and cPanel's own Whostmgr/TweakSettings/Main.pm (`type`, `options`, `minimum`,
//   `maximum`, `unit`, `can_undef`). Help texts are WHM's descriptions, shortened.
pub static SETTINGS: &[SettingDef] = &[
    // [SPEC] Security table (the [CFG] table files it under System)
    binary(
        "allow_login_autocomplete",
        true,
        "Allow autocomplete for login screens",
        "Allow browsers to offer saved usernames and passwords on the login screens.",
    ),
    // [CFG] Security; [SPEC] Security table
    binary(
        "cgihidepass",
        false,
        "Hide login password from cgi scripts",
        "Hide the login password from CGI scripts that run under cPanel.",
    ),
    // [CFG] Security; [SPEC] Security table
    radio(
        "cookieipvalidation",
        &[same("disabled"), same("loose"), same("strict")],
        "strict",
        "Cookie IP validation",
        "Check that session cookies come from the address that logged in.",
    ),
    // [CFG] Security; [SPEC] Security table
    binary(
        "coredump",
        false,
        "Generate core dumps",
        "Allow cPanel services to write core dumps when they crash.",
    ),
    // [CFG] Security; [SPEC] Security table
    binary(
        "emailpasswords",
        false,
        "Send passwords when creating a new account",
        "Include the new account's password in the account creation email.",
    ),
    // [CFG] Security; [SPEC] Security table
    binary(
        "enablefileprotect",
        true,
        "Enable File Protect",
        "Protect users' public_html directories from other users.",
    ),
    // [CFG] Security; [SPEC] Security table
    binary(
        "referrerblanksafety",
        false,
        "Blank referrer safety check",
        "Refuse requests without a referrer that would change data.",
    ),
    // [CFG] Security; [SPEC] Security table
    binary(
        "referrersafety",
        false,
        "Referrer safety check",
        "Refuse requests whose referrer is another site.",
    ),
    // [CFG] Security; [SPEC] Security table
    binary(
        "requiressl",
        true,
        "Require SSL for cPanel services",
        "Redirect logins to the SSL ports.",
    ),
    // [CFG] Security; [SPEC] Security table
    binary(
        "disable-php-as-reseller-security",
        false,
        "Allow PHP to be run when logged in as a reseller to WHM",
        "Let resellers run PHP applications inside WHM.",
    ),
    // [CFG] Security; [SPEC] Security table
    binary(
        "permit_unregistered_apps_as_reseller",
        false,
        "Allow apps that have not registered with AppConfig to be run when logged in as a reseller to WHM",
        "Let resellers run WHM applications that did not register with AppConfig.",
    ),
    // [CFG] Security; [SPEC] Security table
    binary(
        "permit_unregistered_apps_as_root",
        false,
        "Allow apps that have not registered with AppConfig to be run when logged in as root or a reseller with the \"all\" ACL",
        "Let root run WHM applications that did not register with AppConfig.",
    ),
    // [CFG] Security; [SPEC] Security table
    binary(
        "permit_appconfig_entries_without_acls",
        false,
        "Allow WHM apps registered with AppConfig to be executed without specifying an ACL list",
        "Run WHM applications whose AppConfig entry names no ACL.",
    ),
    // [CFG] Security; [SPEC] Security table
    binary(
        "permit_appconfig_entries_without_features",
        false,
        "Allow cPanel and Webmail apps registered with AppConfig to be executed without specifying a feature list",
        "Run cPanel applications whose AppConfig entry names no feature.",
    ),
    // [CFG] Security; [SPEC] Security table
    binary(
        "use_apache_md5_for_htaccess",
        true,
        "Use MD5 passwords with Apache",
        "Hash passwords for protected directories with Apache's MD5 scheme.",
    ),
    // [CFG] Security; [SPEC] Security table
    binary(
        "jailapache",
        false,
        "EXPERIMENTAL: Jail Apache Virtual Hosts using mod_ruid2 and cPanel jailshell",
        "Run virtual hosts of users with jailed shells inside the jail.",
    ),
    // [CFG] Security; [SPEC] Security table
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
    // [CFG] Security; [SPEC] Security table
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
    // [CFG] Security; [SPEC] Security table
    binary(
        "selfsigned_generation_for_bestavailable_ssl_install",
        true,
        "Generate a self-signed SSL certificate if a CA-signed certificate is not available",
        "Install a self-signed certificate when no CA-signed one is available.",
    ),
    // [CFG] Security; [SPEC] Security table
    binary(
        "verify_3rdparty_cpaddons",
        false,
        "Verify signatures of 3rdparty cPaddons",
        "Check the signatures of third-party cPAddons.",
    ),
    // [CFG] Security; [SPEC] Security table
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
    // [CFG] Security; [SPEC] Security table
    binary(
        "xframecpsrvd",
        true,
        "Send X-Frame-Options and X-Content-Type-Options headers with cpsrvd",
        "Forbid framing and MIME sniffing of the panel's pages.",
    ),
    // [CFG] Security; [SPEC] Security table
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
    // [CFG] Security; [SPEC] Security table
    binary(
        "show_reboot_banner",
        true,
        "Display a reboot message after essential updates",
        "Show a banner when an update needs a reboot.",
    ),
    // [CFG] Security; [SPEC] Security table
    binary(
        "csp",
        false,
        "Enable Content-Security-Policy on some interfaces",
        "Send a Content-Security-Policy header with the panel's pages.",
    ),
    // [CFG] System; [SPEC] well-known keys
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
    // [CFG] System; [SPEC] well-known keys
    in_section(
        binary(
            "api_shell",
            false,
            "cPanel & WHM API shell (for developers)",
            "Offer an interactive API shell in WHM.",
        ),
        Section::System,
    ),
    // [CFG] System; [SPEC] well-known keys
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
    // [CFG] System; [SPEC] well-known keys
    number(
        "maxcpsrvdconnections",
        Section::System,
        Some(200),
        Some(16384),
        None,
        None,
        Some("200"),
        "Max cPanel/WHM/Webmail service handlers",
        "The most connections cpsrvd accepts at once.",
    ),
    // [CFG] System; [SPEC] well-known keys
    SettingDef {
        key: "empty_trash_days",
        section: Section::System,
        kind: SettingKind::Text {
            rule: TextRule::DisabledOrWholeNumber,
        },
        default: Some("disabled"),
        label: "Age, in days, of content to purge from users' File Manager Trash",
        help: "Days after which files in users' trash are removed, or disabled.",
        deprecation: None,
    },
    // [CFG] System
    text(
        "allow_server_info_status_from",
        Section::System,
        TextRule::Any,
        "",
        "Allow server-info and server-status",
        "Hosts or addresses, separated by spaces, that may see Apache's server-info and server-status pages.",
    ),
    // [CFG] System
    on_off(
        "allowcpsslinstall",
        Section::System,
        true,
        "Allow cPanel users to install SSL Hosts.",
        "Let cPanel users install SSL certificates for their domains. Off also stops them forcing HTTPS redirects.",
    ),
    // [CFG] System
    text(
        "apache_port",
        Section::System,
        TextRule::Any,
        "0.0.0.0:80",
        "Apache non-SSL IP/port",
        "The address and port (IP:PORT) on which Apache listens for non-SSL connections.",
    ),
    // [CFG] System
    text(
        "apache_ssl_port",
        Section::System,
        TextRule::Any,
        "0.0.0.0:443",
        "Apache SSL port",
        "The address and port (IP:PORT) on which Apache listens for SSL connections.",
    ),
    // [CFG] System
    count(
        "bind_deferred_restart_time",
        Section::System,
        Some(0),
        Some(300),
        Some("seconds"),
        "2",
        "DNS server reload deferral time",
        "Seconds to wait before reloading the DNS server after a change, so that several changes need one reload.",
    ),
    // [CFG] System
    count(
        "chkservd_check_interval",
        Section::System,
        Some(60),
        Some(7200),
        Some("seconds"),
        "300",
        "The number of seconds between ChkServd service checks.",
        "How often ChkServd checks the services it monitors.",
    ),
    // [CFG] System
    count(
        "chkservd_hang_allowed_intervals",
        Section::System,
        Some(1),
        Some(20),
        None,
        "2",
        "The number of times ChkServd allows a previous check to complete before termination.",
        "Check cycles ChkServd waits for a previous check to finish before it terminates that check.",
    ),
    // [CFG] System
    inverse(
        "chkservd_plaintext_notify",
        Section::System,
        false,
        "Enable ChkServd HTML notifications",
        "Send ChkServd notifications as HTML rather than plain text.",
    ),
    // [CFG] System
    on_off(
        "conserve_memory",
        Section::System,
        false,
        "Conserve memory",
        "Reduce memory use at some cost in speed.",
    ),
    // [CFG] System
    on_off(
        "copy_default_error_documents",
        Section::System,
        false,
        "Copy default error documents to docroot for new accounts, addon domains, and subdomains",
        "Copy the default error pages into the document root of each new account, addon domain and subdomain.",
    ),
    // [CFG] System
    on_off(
        "cpsrvd-domainlookup",
        Section::System,
        false,
        "cpsrvd username domain lookup",
        "Let users log in to cpsrvd with their domain name instead of their username.",
    ),
    // [CFG] System
    on_off(
        "disable_cphttpd",
        Section::System,
        false,
        "Prevent cpsrvd from serving standard HTTP ports",
        "Stop cpsrvd from answering on ports 80 and 443 when Apache is not running.",
    ),
    // [CFG] System
    inverse(
        "disablequotacache",
        Section::System,
        false,
        "Cache disk quota information",
        "Cache disk quota information instead of reading it again on every request.",
    ),
    // [CFG] System
    on_off(
        "dnslookuponconnect",
        Section::System,
        false,
        "Reverse DNS lookup upon connect",
        "Look up the hostname of each address that connects to cPanel services.",
    ),
    // [CFG] System
    on_off(
        "enablecompileroptimizations",
        Section::System,
        false,
        "Enable optimizations for the C compiler",
        "Let the C compiler optimise software that cPanel & WHM builds.",
    ),
    // [CFG] System
    on_off(
        "enforce_user_account_limits",
        Section::System,
        false,
        "Enforce user account limits for resellers with the \"Account Modification\" ACL.",
        "Apply the reseller's account limits when a reseller with the Account Modification privilege modifies an account.",
    ),
    // [CFG] System: `undef` by default, and `unlimited` is stored as undefined. Main.pm: a float from 1 to 10240, unit
    // MB, can_undef.
    decimal(
        "file_upload_max_bytes",
        Section::System,
        (Some(1), false),
        Some(10240),
        Some("MB"),
        "unlimited",
        "Max HTTP submission size",
        "The largest HTTP submission, such as a file upload, that cPanel & WHM's services accept, in megabytes.",
    ),
    // [CFG] System
    count(
        "file_upload_must_leave_bytes",
        Section::System,
        Some(1),
        None,
        Some("MB"),
        "5",
        "File upload required free space",
        "Free disk space, in megabytes, that must remain after a file upload.",
    ),
    // [CFG] System
    count(
        "ftpquotacheck_expire_time",
        Section::System,
        Some(1),
        Some(365000),
        Some("days"),
        "30",
        "Interval, in days, between rebuilds of the FTP quota and disk usage data (applies to Pure-FTPd only)",
        "Days between rebuilds of Pure-FTPd's quota and disk usage data.",
    ),
    // [CFG] System
    count(
        "htaccess_check_recurse",
        Section::System,
        Some(0),
        None,
        None,
        "2",
        "Depth to recurse for .htaccess checks",
        "Directory levels to search for .htaccess files that may affect a change.",
    ),
    // [CFG] System
    count(
        "httpd_deferred_restart_time",
        Section::System,
        Some(0),
        None,
        Some("seconds"),
        "0",
        "HTTPD deferred reload time",
        "Seconds to wait before reloading the web server after a change.",
    ),
    // [CFG] System
    on_off(
        "invite_sub",
        Section::System,
        true,
        "Account Invites for Subaccounts",
        "Let cPanel users invite new subaccounts to set their own passwords.",
    ),
    // [CFG] System
    ionice(
        "ionice_bandwidth_processing",
        "6",
        "I/O priority level at which bandwidth usage is processed",
    ),
    // [CFG] System
    ionice(
        "ionice_cpbackup",
        "6",
        "I/O priority level at which nightly backups are run",
    ),
    // [CFG] System
    ionice(
        "ionice_dovecot_maintenance",
        "7",
        "I/O priority level at which dovecot_maintenance is run",
    ),
    // [CFG] System
    ionice(
        "ionice_email_archive_maintenance",
        "7",
        "I/O priority level at which email_archive_maintenance is run",
    ),
    // [CFG] System
    ionice(
        "ionice_ftpquotacheck",
        "6",
        "I/O priority level at which FTP quota checks are run (when Pure-FTPd is enabled)",
    ),
    // [CFG] System
    ionice(
        "ionice_log_processing",
        "7",
        "I/O priority level at which stats logs are processed",
    ),
    // [CFG] System
    ionice(
        "ionice_quotacheck",
        "6",
        "I/O priority level at which quota checks are run",
    ),
    // [CFG] System
    ionice(
        "ionice_userbackup",
        "7",
        "I/O priority level at which cPanel-generated backups are run",
    ),
    // [CFG] System
    ionice(
        "ionice_userproc",
        "6",
        "I/O priority level for user-initiated processes",
    ),
    // [CFG] System
    on_off(
        "ipv6_listen",
        Section::System,
        false,
        "Listen on IPv6 Addresses",
        "Let cPanel services listen on the server's IPv6 addresses.",
    ),
    // [CFG] System
    on_off(
        "jaildefaultshell",
        Section::System,
        false,
        "Use cPanel\u{ae} jailshell by default",
        "Give new accounts with shell access the jailed shell.",
    ),
    // [CFG] System
    on_off(
        "jailmountbinsuid",
        Section::System,
        false,
        "Jailed /bin mounted suid",
        "Mount /bin with setuid allowed inside jailed shells. No effect on newer operating systems.",
    ),
    // [CFG] System
    on_off(
        "jailmountusrbinsuid",
        Section::System,
        false,
        "Jailed /usr/bin mounted suid",
        "Mount /usr/bin with setuid allowed inside jailed shells.",
    ),
    // [CFG] System
    choice(
        "jailprocmode",
        Section::System,
        &[
            same("mount_proc_full"),
            same("mount_proc_jailed_fallback_full"),
            same("mount_proc_jailed_fallback_none"),
        ],
        "mount_proc_jailed_fallback_full",
        "Jailed /proc mount method",
        "How /proc is mounted inside jailed shells.",
    ),
    // [CFG] System
    number(
        "maxmem",
        Section::System,
        None,
        None,
        Some("MB"),
        Some("unlimited"),
        Some("4096"),
        "Max cPanel process memory",
        "The most memory, in megabytes, a cPanel process may use.",
    ),
    // [CFG] System
    count(
        "min_time_between_apache_graceful_restarts",
        Section::System,
        Some(10),
        Some(600),
        None,
        "10",
        "Minimum time between Apache graceful restarts.",
        "The shortest time the system waits between two graceful restarts of Apache.",
    ),
    // [CFG] System
    inverse(
        "nosendlangupdates",
        Section::System,
        false,
        "Send language file changes to cPanel",
        "Send changes you make to language files to cPanel.",
    ),
    // [CFG] System
    count(
        "repquota_timeout",
        Section::System,
        Some(1),
        None,
        Some("seconds"),
        "60",
        "Disk usage/quota bailout time",
        "Seconds to wait for disk usage and quota information before giving up.",
    ),
    // [CFG] System
    on_off(
        "resetpass",
        Section::System,
        true,
        "Reset Password for cPanel accounts",
        "Show a Reset Password link on the cPanel login page.",
    ),
    // [CFG] System
    on_off(
        "resetpass_sub",
        Section::System,
        true,
        "Reset Password for Subaccounts",
        "Show a Reset Password link for subaccounts on the login page.",
    ),
    // [CFG] System
    on_off(
        "rpmup_allow_kernel",
        Section::System,
        false,
        "Enable Linux kernel update during nightly maintenance.",
        "Let nightly maintenance update the Linux kernel.",
    ),
    // [CFG] System
    text(
        "server_locale",
        Section::System,
        TextRule::Any,
        "en",
        "Server Locale",
        "The locale the system uses when a user's locale is unavailable.",
    ),
    // [CFG] System
    inverse(
        "skip_chkservd_recovery_notify",
        Section::System,
        false,
        "Enable ChkServd recovery notifications",
        "Notify when ChkServd sees that a failed service has recovered.",
    ),
    // [CFG] System
    on_off(
        "skipfirewall",
        Section::System,
        false,
        "Do not make changes to the firewall during account modification.",
        "Leave the firewall alone when accounts are modified.",
    ),
    // [CFG] System
    on_off(
        "skip_rules_added_by_configure_firewall_for_cpanel",
        Section::System,
        false,
        "Do not make changes to the firewall via scripts/configure_firewall_for_cpanel.",
        "Stop scripts/configure_firewall_for_cpanel from changing the firewall.",
    ),
    // [CFG] System
    inverse(
        "skipnotifyacctbackupfailure",
        Section::System,
        false,
        "Send a notification when a user's backup has errors",
        "Notify when a user's backup finishes with errors.",
    ),
    // [CFG] System
    on_off(
        "skipparentcheck",
        Section::System,
        false,
        "Allow other applications to run the cPanel and admin binaries",
        "Let applications other than cPanel's own run the cPanel and admin binaries.",
    ),
    // [CFG] System
    // WHM lets it be undefined (Main.pm can_undef); the documentation does not say what undefined means.
    number(
        "tcp_check_failure_threshold",
        Section::System,
        Some(1),
        None,
        None,
        Some("undefined"),
        Some("3"),
        "ChkServd TCP check failure threshold",
        "Failed TCP checks in a row before ChkServd reports a service as down.",
    ),
    // [CFG] System
    count(
        "transfers_timeout",
        Section::System,
        Some(1800),
        Some(172800),
        Some("seconds"),
        "1800",
        "Number of seconds an SSH connection related to an account transfer may be inactive before timing out",
        "Idle seconds after which an SSH connection for an account transfer times out.",
    ),
    // [CFG] Mail; [SPEC] well-known keys
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
    // [CFG] Mail; the API documentation's own example key (get_tweaksetting key=defaultmailaction).
    // Shown values: "Tweak Settings - Mail" (11.40/11.44): System account, Fail, Blackhole.
    choice(
        "defaultmailaction",
        Section::Mail,
        &[
            RadioOption {
                stored: "localuser",
                shown: "System account",
            },
            RadioOption {
                stored: "fail",
                shown: "Fail",
            },
            RadioOption {
                stored: "blackhole",
                shown: "Blackhole",
            },
        ],
        "localuser",
        "Initial default/catch-all forwarder destination",
        "Where new accounts' default (catch-all) address sends mail for nonexistent users. \
         Users can change it later in cPanel's Default Address interface.",
    ),
    // [CFG] Mail
    on_off(
        "disk_usage_include_mailman",
        Section::Mail,
        true,
        "Include mailman in disk usage calculations",
        "Count Mailman mailing lists in accounts' disk usage.",
    ),
    // [CFG] Mail
    on_off(
        "domainowner_mail_pass",
        Section::Mail,
        false,
        "Mail authentication via domain owner password",
        "Let the website owner's password access any email address the owner created within the account.",
    ),
    // [CFG] Mail
    choice(
        "email_account_quota_default_selected",
        Section::Mail,
        &[same("unlimited"), same("userdefined")],
        "userdefined",
        "Default quota option for new email accounts",
        "Whether new email accounts start with an unlimited or a user-defined quota.",
    ),
    // [CFG] Mail
    count(
        "email_account_quota_userdefined_default_value",
        Section::Mail,
        Some(1),
        None,
        Some("MB"),
        "1024",
        "Default user-defined quota value for new email accounts",
        "The quota, in megabytes, that new email accounts get when the default quota option is user-defined.",
    ),
    // [CFG] Mail; shown values: "Tweak Settings - Mail"
    choice(
        "email_outbound_spam_detect_action",
        Section::Mail,
        &[
            RadioOption {
                stored: "noaction",
                shown: "Take no action",
            },
            RadioOption {
                stored: "hold",
                shown: "Hold outgoing mail",
            },
            RadioOption {
                stored: "block",
                shown: "Reject outgoing mail",
            },
        ],
        "noaction",
        "Select the action for the system to take on an email account when it detects a potential spammer.",
        "The action the system takes on every email account that it detects as a potential spammer.",
    ),
    // [CFG] Mail
    on_off(
        "email_outbound_spam_detect_enable",
        Section::Mail,
        true,
        "Monitor the number of unique recipients per hour to detect potential spammers.",
        "Count each account's unique recipients per hour to detect potential spammers.",
    ),
    // [CFG] Mail
    count(
        "email_outbound_spam_detect_threshold",
        Section::Mail,
        Some(1),
        None,
        Some("recipients"),
        "500",
        "Number of unique recipients per hour to trigger potential spammer notification.",
        "Unique recipients in an hour at which the system treats an account as a potential spammer.",
    ),
    // [CFG] Mail
    on_off(
        "email_send_limits_count_mailman",
        Section::Mail,
        false,
        "Count mailman deliveries towards a domain's Max hourly emails.",
        "Count Mailman deliveries towards a domain's hourly email limit.",
    ),
    // [CFG] Mail
    count(
        "email_send_limits_defer_cutoff",
        Section::Mail,
        Some(100),
        Some(10000),
        Some("%"),
        "125",
        "The percentage of email messages (above the account's hourly maximum) to queue and retry for delivery.",
        "Messages above the hourly maximum, up to this percentage of it, are queued and retried; the rest are discarded.",
    ),
    // [CFG] Mail
    number(
        "email_send_limits_max_defer_fail_percentage",
        Section::Mail,
        Some(1),
        Some(100),
        Some("%"),
        Some("unlimited"),
        None,
        "Maximum percentage of failed or deferred messages a domain may send per hour",
        "A domain whose failed or deferred messages pass this percentage in an hour may not send more that hour.",
    ),
    // [CFG] Mail
    count(
        "email_send_limits_min_defer_fail_to_trigger_protection",
        Section::Mail,
        Some(1),
        None,
        Some("messages"),
        "5",
        "Number of failed or deferred messages a domain may send before protections can be triggered",
        "Failed or deferred messages a domain may send before the maximum percentage applies.",
    ),
    // [CFG] Mail
    on_off(
        "emailarchive",
        Section::Mail,
        false,
        "Enable Email Archiving support",
        "Let users archive their incoming and outgoing mail.",
    ),
    // [CFG] Mail
    number(
        "emailsperdaynotify",
        Section::Mail,
        Some(1),
        None,
        Some("emails per day"),
        Some("unlimited"),
        None,
        "Number of emails a domain may send per day before the system sends a notification",
        "Emails per day a domain may send before the system sends a notification.",
    ),
    // [CFG] Mail
    count(
        "exim-retrytime",
        Section::Mail,
        Some(1),
        None,
        Some("minutes"),
        "15",
        "Email delivery retry time",
        "Minutes between attempts to deliver a message that could not be delivered.",
    ),
    // [CFG] Mail
    on_off(
        "eximmailtrap",
        Section::Mail,
        true,
        "Track email origin via X-Source email headers",
        "Add X-Source headers that show which script or user sent a message.",
    ),
    // [CFG] Mail
    choice(
        "mailbox_storage_format",
        Section::Mail,
        &[same("mdbox"), same("maildir")],
        "maildir",
        "The mailbox storage format for new accounts",
        "The storage format for new accounts' mailboxes. Restored or transferred accounts keep their format.",
    ),
    // [CFG] Mail
    on_off(
        "nobodyspam",
        Section::Mail,
        true,
        "Prevent \"nobody\" from sending mail",
        "Stop the nobody user, which runs web server processes, from sending mail.",
    ),
    // [CFG] Mail
    on_off(
        "popbeforesmtp",
        Section::Mail,
        false,
        "Allow users to relay mail if they use an IP address through which someone has validated an IMAP or POP3 login within the last hour (Pop-before-SMTP)",
        "Let users who recently logged in over IMAP or POP3 send mail through SMTP without authenticating again. \
         An open relay is a security risk; SMTP authentication is the better choice.",
    ),
    // [CFG] Mail
    on_off(
        "popbeforesmtpsenders",
        Section::Mail,
        false,
        "Add X-PopBeforeSMTP header for mail sent via POP-before-SMTP",
        "Mark mail relayed through POP-before-SMTP with an X-PopBeforeSMTP header.",
    ),
    // [CFG] Mail
    inverse(
        "skipboxtrapper",
        Section::Mail,
        false,
        "Enable BoxTrapper spam trap",
        "Offer BoxTrapper, which makes senders verify themselves, to users.",
    ),
    // [CFG] Mail
    inverse(
        "skipmailman",
        Section::Mail,
        false,
        "Enable Mailman mailing lists",
        "Offer Mailman mailing lists.",
    ),
    // [CFG] Mail
    inverse(
        "skiproundcube",
        Section::Mail,
        false,
        "Enable Roundcube webmail",
        "Offer the Roundcube webmail client.",
    ),
    // [CFG] Mail
    inverse(
        "skipspamassassin",
        Section::Mail,
        false,
        "Enable Apache SpamAssassin\u{2122} spam filter",
        "Run the Apache SpamAssassin spam filter.",
    ),
    // [CFG] Mail
    inverse(
        "skipspambox",
        Section::Mail,
        false,
        "Enable Apache SpamAssassin\u{2122} Spam Box delivery for messages marked as spam (user configurable)",
        "Let users deliver mail marked as spam to a separate spam folder.",
    ),
    // [CFG] Mail
    on_off(
        "smtpmailgidonly",
        Section::Mail,
        true,
        "Restrict outgoing SMTP to root, exim, and mailman (FKA SMTP Tweak)",
        "Only root, exim and mailman may connect to remote SMTP servers; other users must use the local mail server.",
    ),
    // [CFG] Mail
    on_off(
        "usemailformailmanurl",
        Section::Mail,
        false,
        "Prefix \"mail.\" onto Mailman URLs",
        "Use mail.example.com rather than example.com in Mailman URLs.",
    ),
    // [CFG] Domains; [SPEC] well-known keys
    in_section(
        binary(
            "proxysubdomains",
            true,
            "Service subdomains",
            "Create cpanel., webmail. and whm. proxy subdomains.",
        ),
        Section::Domains,
    ),
    // [CFG] Domains
    on_off(
        "allowparkhostnamedomainsubdomains",
        Section::Domains,
        false,
        "Allow users to park subdomains of the server's hostname.",
        "Let users park subdomains of the server's hostname.",
    ),
    // [CFG] Domains
    on_off(
        "allowparkonothers",
        Section::Domains,
        false,
        "Allow cPanel users to create subdomains across accounts",
        "Let cPanel users create subdomains of domains that belong to other accounts.",
    ),
    // [CFG] Domains
    on_off(
        "allowremotedomains",
        Section::Domains,
        false,
        "Allow Remote Domains",
        "Let users create domains whose DNS is served by other servers.",
    ),
    // [CFG] Domains
    on_off(
        "allowresellershostnamedomainsubdomains",
        Section::Domains,
        false,
        "Allow resellers to create accounts with subdomains of the server's hostname.",
        "Let resellers create accounts on subdomains of the server's hostname.",
    ),
    // [CFG] Domains
    on_off(
        "allowunregistereddomains",
        Section::Domains,
        false,
        "Allow unregistered domains",
        "Let users create domains that are not registered with a registrar.",
    ),
    // [CFG] Domains
    on_off(
        "allowwhmparkonothers",
        Section::Domains,
        false,
        "Allow WHM users to create subdomains across accounts",
        "Let WHM users create subdomains of domains that belong to other accounts.",
    ),
    // [CFG] Domains
    on_off(
        "autocreateaentries",
        Section::Domains,
        true,
        "Automatically add A entries for registered nameservers when creating a new zone",
        "Add A records for the registered nameservers to each new DNS zone.",
    ),
    // [CFG] Domains
    text(
        "autodiscover_host",
        Section::Domains,
        TextRule::Any,
        "cpanelemaildiscovery.cpanel.net",
        "Host to publish in the SRV records for Outlook autodiscover support.",
        "The host name that the autodiscover SRV records point to.",
    ),
    // [CFG] Domains
    choice(
        "autodiscover_mail_service",
        Section::Domains,
        &[same("imap"), same("pop3")],
        "imap",
        "Preferred mail service to configure to use for Thunderbird and Outlook autodiscover and autoconfig support",
        "The mail service that autodiscover and autoconfig offer to mail clients.",
    ),
    // [CFG] Domains, default `0`. The documentation and the source disagree: Main.pm declares `'default' => 1`. The
    // catalogue keeps `0`, because the default here is what an absent key takes, and [CFG] says absent keys take the
    // values of the shipped /usr/local/cpanel/etc/cpanel.config, which it lists as `0`; WHM API 1's example file
    // (`restore_config_from_upload`) stores `0` too, and Off creates no service subdomains or SRV records unasked.
    on_off(
        "autodiscover_proxy_subdomains",
        Section::Domains,
        false,
        "Thunderbird and Outlook autodiscover and autoconfig support (enables service subdomain and SRV record creation)",
        "Create the autoconfig and autodiscover service subdomains and SRV records that let mail clients configure \
         themselves. Service subdomains must be on.",
    ),
    // [CFG] Domains
    on_off(
        "autoupdate_certificate_on_hostname_mismatch",
        Section::Domains,
        true,
        "Replace service SSL certificates that do not match the local hostname",
        "Replace a service's SSL certificate when it does not match the server's hostname.",
    ),
    // [CFG] Domains
    on_off(
        "blockcommondomains",
        Section::Domains,
        true,
        "Prevent cPanel users from creating specific domains",
        "Stop cPanel users from creating common domains (such as well-known sites) on the server.",
    ),
    // [CFG] Domains
    on_off(
        "check_zone_owner",
        Section::Domains,
        true,
        "Check zone owner",
        "Check that a user owns a DNS zone before letting the user change it.",
    ),
    // [CFG] Domains
    on_off(
        "check_zone_syntax",
        Section::Domains,
        true,
        "Check zone syntax",
        "Check a DNS zone's syntax before saving it.",
    ),
    // [CFG] Domains
    on_off(
        "create_account_dkim",
        Section::Domains,
        true,
        "Enable DKIM on domains for newly created accounts",
        "Turn DomainKeys Identified Mail on for new accounts' domains.",
    ),
    // [CFG] Domains
    on_off(
        "create_account_spf",
        Section::Domains,
        true,
        "Enable SPF on domains for newly created accounts",
        "Turn Sender Policy Framework on for new accounts' domains.",
    ),
    // [CFG] Domains: `undef` by default, and an empty string is stored as undefined. Main.pm: a path, can_undef, that
    // must start with `/` (and be executable there, which only the server that runs it can check).
    SettingDef {
        default: None,
        ..text(
            "dnsadminapp",
            Section::Domains,
            TextRule::FullPath,
            "",
            "DNS request management application",
            "The full path of a program that manages DNS requests in place of cPanel & WHM's own; undefined by default.",
        )
    },
    // [CFG] Domains
    on_off(
        "overwritecustomproxysubdomains",
        Section::Domains,
        false,
        "Overwrite custom A records used for service subdomains",
        "Replace A records that users made for cpanel., webmail. and other service subdomains.",
    ),
    // [CFG] Domains
    on_off(
        "overwritecustomsrvrecords",
        Section::Domains,
        false,
        "Overwrite custom SRV records used by Outlook AutoDiscover support",
        "Replace SRV records that users made for autodiscover.",
    ),
    // [CFG] Domains
    on_off(
        "proxysubdomainsoverride",
        Section::Domains,
        true,
        "Service subdomain override",
        "Let users create their own cpanel., webmail. and other service subdomains, which then replace the system's.",
    ),
    // [CFG] Domains
    on_off(
        "publichtmlsubsonly",
        Section::Domains,
        true,
        "Restrict document roots to public_html",
        "Keep the document roots of new domains inside the user's public_html directory.",
    ),
    // [CFG] Domains
    on_off(
        "useauthnameservers",
        Section::Domains,
        false,
        "Always use authoritative (registered) nameservers when creating a new DNS zone.",
        "Put the domain's registered nameservers in each new DNS zone.",
    ),
    // [CFG] Display; [SPEC] well-known keys
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
    // [CFG] Display (the options are the installed login themes)
    text(
        "default_login_theme",
        Section::Display,
        TextRule::Any,
        "cpanel",
        "Default login theme",
        "The theme of the cPanel, WHM and Webmail login pages.",
    ),
    // [CFG] Display
    on_off(
        "display_upgrade_opportunities",
        Section::Display,
        false,
        "Display the Upgrade Opportunities column in WHM's List Accounts interface (WHM \u{bb} Home \u{bb} Account Information \u{bb} List Accounts).",
        "Show the Upgrade Opportunities column in List Accounts.",
    ),
    // [CFG] Display (the documentation files it under Display)
    // WHM lets it be undefined (Main.pm can_undef); the documentation does not say what undefined means.
    number(
        "dns_recursive_query_pool_size",
        Section::Display,
        Some(1),
        None,
        Some("queries"),
        Some("undefined"),
        Some("10"),
        "This setting restricts the maximum number of currently-active recursive DNS queries.",
        "This setting restricts the maximum number of currently-active recursive DNS queries. Use this setting if your \
         firewall imposes rate limits on DNS queries. These rate limits can degrade recursive DNS queries in applications \
         such as AutoSSL.",
    ),
    // [CFG] Display
    on_off(
        "file_usage",
        Section::Display,
        false,
        "Display File Usage information in the cPanel stats bar (inode count)",
        "Show each user's file count (inodes) in cPanel's statistics bar.",
    ),
    // [CFG] Logging
    count(
        "dnsadmin_log",
        Section::Logging,
        Some(0),
        Some(9),
        None,
        "0",
        "dnsadmin logging level",
        "How much dnsadmin writes to its log; 0 is least.",
    ),
    // [CFG] Logging
    on_off(
        "dnsadmin_verbose_sync",
        Section::Logging,
        false,
        "Enable verbose logging of DNS zone syncing",
        "Log each DNS zone that dnsadmin synchronises.",
    ),
    // [CFG] Logging
    on_off(
        "enable_api_log",
        Section::Logging,
        false,
        "This setting allows you to log successful or failed cPanel API 1, successful cPanel API 2, and successful UAPI function calls.",
        "This setting allows you to log successful or failed cPanel API 1, successful cPanel API 2, and successful UAPI \
         function calls. We store this log in the /usr/local/cpanel/logs/api_log file.",
    ),
    // [CFG] Logging
    on_off(
        "log_successful_logins",
        Section::Logging,
        false,
        "Log successful logins",
        "Record successful logins in the login log as well as failed ones.",
    ),
    // [CFG] Notifications; [SPEC] well-known keys
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
    // [CFG] Notifications
    on_off(
        "emailusers_diskusage_critical_contact_admin",
        Section::Notifications,
        true,
        "Notify admin or reseller when disk quota reaches \"critical\" state",
        "Also notify the account's owner when an account's disk usage reaches the critical percentage.",
    ),
    // [CFG] Notifications
    percent(
        "emailusers_diskusage_critical_percent",
        "90",
        "Account disk quota \"critical\" percentage",
        "The share of its disk quota at which an account's usage is critical.",
    ),
    // [CFG] Notifications
    on_off(
        "emailusers_diskusage_full_contact_admin",
        Section::Notifications,
        true,
        "Notify admin or reseller when disk quota reaches \"full\" state",
        "Also notify the account's owner when an account's disk usage reaches the full percentage.",
    ),
    // [CFG] Notifications
    percent(
        "emailusers_diskusage_full_percent",
        "98",
        "Account disk quota \"full\" percentage",
        "The share of its disk quota at which an account counts as full.",
    ),
    // [CFG] Notifications
    on_off(
        "emailusers_diskusage_warn_contact_admin",
        Section::Notifications,
        false,
        "Notify admin or reseller when disk quota reaches \"warn\" state",
        "Also notify the account's owner when an account's disk usage reaches the warning percentage.",
    ),
    // [CFG] Notifications
    percent(
        "emailusers_diskusage_warn_percent",
        "80",
        "Account disk quota \"warn\" percentage",
        "The share of its disk quota at which the account's user is warned.",
    ),
    // [CFG] Notifications
    percent(
        "emailusers_mailbox_critical_percent",
        "90",
        "Mailbox disk quota \"critical\" percentage",
        "The share of its quota at which a mailbox's usage is critical.",
    ),
    // [CFG] Notifications
    percent(
        "emailusers_mailbox_full_percent",
        "98",
        "Mailbox disk quota \"full\" percentage",
        "The share of its quota at which a mailbox counts as full.",
    ),
    // [CFG] Notifications
    percent(
        "emailusers_mailbox_warn_percent",
        "80",
        "Mailbox disk quota \"warn\" percentage",
        "The share of its quota at which the mailbox's user is warned.",
    ),
    // [CFG] Notifications
    on_off(
        "emailusersbandwidthexceed",
        Section::Notifications,
        true,
        "Send bandwidth limit notification emails",
        "Notify users when they reach their bandwidth limit.",
    ),
    // [CFG] Notifications
    bandwidth("emailusersbandwidthexceed70", false, "Bandwidth usage warning: 70%"),
    // [CFG] Notifications
    bandwidth("emailusersbandwidthexceed75", false, "Bandwidth usage warning: 75%"),
    // [CFG] Notifications
    bandwidth("emailusersbandwidthexceed80", true, "Bandwidth usage warning: 80%"),
    // [CFG] Notifications
    bandwidth("emailusersbandwidthexceed85", false, "Bandwidth usage warning: 85%"),
    // [CFG] Notifications
    bandwidth("emailusersbandwidthexceed90", false, "Bandwidth usage warning: 90%"),
    // [CFG] Notifications
    bandwidth("emailusersbandwidthexceed95", false, "Bandwidth usage warning: 95%"),
    // [CFG] Notifications
    bandwidth("emailusersbandwidthexceed97", false, "Bandwidth usage warning: 97%"),
    // [CFG] Notifications
    bandwidth("emailusersbandwidthexceed98", false, "Bandwidth usage warning: 98%"),
    // [CFG] Notifications
    bandwidth("emailusersbandwidthexceed99", false, "Bandwidth usage warning: 99%"),
    // [CFG] Notifications
    on_off(
        "notify_expiring_certificates",
        Section::Notifications,
        true,
        "Send notifications when certificates approach expiry.",
        "Notify users when their SSL certificates are about to expire.",
    ),
    // [CFG] Notifications
    inverse(
        "skipbwlimitcheck",
        Section::Notifications,
        false,
        "Bandwidth limit check",
        "Check accounts' bandwidth use against their limits.",
    ),
    // [CFG] Notifications
    inverse(
        "skipdiskcheck",
        Section::Notifications,
        false,
        "Disk quota usage warnings",
        "Warn users whose disk usage nears their quota.",
    ),
    // [CFG] Notifications
    inverse(
        "skipdiskusage",
        Section::Notifications,
        false,
        "System disk space usage warnings",
        "Warn when the server's disks run low on space.",
    ),
    // [CFG] Notifications
    inverse(
        "skipoomcheck",
        Section::Notifications,
        false,
        "Out of memory warnings",
        "Notify when the kernel kills a process because the server ran out of memory.",
    ),
    // [CFG] Notifications
    percent(
        "system_diskusage_critical_percent",
        "92.55",
        "Account system disk usage \"critical\" percentage",
        "The share of a disk's space in use at which the server's disk usage is critical.",
    ),
    // [CFG] Notifications
    percent(
        "system_diskusage_warn_percent",
        "82.55",
        "Account system disk usage \"warn\" percentage",
        "The share of a disk's space in use at which the system warns about disk usage.",
    ),
    // [CFG] Compression
    count(
        "gzip_compression_level",
        Section::Compression,
        Some(1),
        Some(9),
        None,
        "6",
        "gzip compression level",
        "The level of compression to use (1 is faster but less compression, 9 is slower but provides maximum compression).",
    ),
    // [CFG] Compression
    count(
        "gzip_pigz_block_size",
        Section::Compression,
        Some(128),
        Some(524288),
        Some("KB"),
        "4096",
        "Number of kilobyte chunks per compression work unit",
        "The size, in 1024-byte chunks, of the work units given to each pigz process.",
    ),
    // [CFG] Compression
    count(
        "gzip_pigz_processes",
        Section::Compression,
        Some(1),
        Some(128),
        None,
        "1",
        "Number of pigz processes",
        "The number of independent pigz processes to use for gzip compression.",
    ),
    // [CFG] PHP
    count(
        "php_max_execution_time",
        Section::Php,
        Some(90),
        Some(500),
        Some("seconds"),
        "90",
        "cPanel PHP max execution time",
        "The longest time a script may run in cPanel & WHM's own PHP.",
    ),
    // [CFG] PHP
    count(
        "php_memory_limit",
        Section::Php,
        Some(128),
        Some(16384),
        Some("MB"),
        "128",
        "cPanel PHP memory limit",
        "The most memory a script may use in cPanel & WHM's own PHP.",
    ),
    // [CFG] PHP
    count(
        "php_post_max_size",
        Section::Php,
        Some(55),
        Some(2047),
        Some("MB"),
        "55",
        "cPanel PHP max POST size",
        "The largest POST request that cPanel & WHM's own PHP accepts.",
    ),
    // [CFG] PHP
    count(
        "php_upload_max_filesize",
        Section::Php,
        Some(50),
        Some(2047),
        Some("MB"),
        "50",
        "cPanel PHP max upload size",
        "The largest file upload that cPanel & WHM's own PHP accepts.",
    ),
    // [CFG] PHP
    text(
        "phploader",
        Section::Php,
        TextRule::Subset(&["ioncube", "sourceguardian"]),
        "",
        "cPanel PHP loader",
        "The PHP loaders (ionCube, SourceGuardian) that cPanel & WHM's own PHP loads.",
    ),
    // [CFG] Redirection
    on_off(
        "alwaysredirecttossl",
        Section::Redirection,
        true,
        "Choose the closest matched domain for which that the system has a valid certificate when redirecting from non-SSL to SSL URLs. Formerly known as \"Always redirect to SSL/TLS\"",
        "Redirect non-SSL requests to the closest matching domain that has a valid certificate.",
    ),
    // [CFG] Redirection
    choice(
        "cpredirect",
        Section::Redirection,
        &[same("Hostname"), same("Origin Domain Name")],
        "Origin Domain Name",
        "Non-SSL redirect destination",
        "Where non-SSL requests for cPanel, WHM and Webmail go.",
    ),
    // [CFG] Redirection
    choice(
        "cpredirectssl",
        Section::Redirection,
        &[
            same("SSL Certificate Name"),
            same("Hostname"),
            same("Origin Domain Name"),
        ],
        "SSL Certificate Name",
        "SSL redirect destination",
        "Where SSL requests for cPanel, WHM and Webmail go.",
    ),
    // [CFG] Redirection
    text(
        "logout_redirect_url",
        Section::Redirection,
        TextRule::Any,
        "",
        "Logout redirection URL",
        "The address users go to when they log out; empty means no redirection.",
    ),
    // [CFG] SQL
    on_off(
        "database_prefix",
        Section::Sql,
        true,
        "Require a username prefix on names of new databases and database users",
        "Require the names of new databases and database users to begin with the username and an underscore.",
    ),
    // [CFG] SQL
    on_off(
        "disk_usage_include_sqldbs",
        Section::Sql,
        true,
        "Include databases in disk usage calculations",
        "Count databases in accounts' disk usage.",
    ),
    // [CFG] SQL
    on_off(
        "force_short_prefix",
        Section::Sql,
        false,
        "Force short prefix for MySQL and MariaDB databases",
        "Use only the first eight characters of the username in database prefixes.",
    ),
    // [CFG] SQL
    on_off(
        "mycnf_auto_adjust_maxallowedpacket",
        Section::Sql,
        true,
        "Allow cPanel & WHM to determine the best value for your MySQL max_allowed_packet configuration?",
        "Let cPanel & WHM set MySQL's max_allowed_packet.",
    ),
    // [CFG] SQL
    on_off(
        "mycnf_auto_adjust_openfiles_limit",
        Section::Sql,
        true,
        "Allow cPanel & WHM to determine the best value for your MySQL open_files_limit configuration?",
        "Let cPanel & WHM set MySQL's open_files_limit.",
    ),
    // [CFG] SQL
    on_off(
        "mycnf_auto_adjust_innodb_buffer_pool_size",
        Section::Sql,
        false,
        "Allow cPanel & WHM to determine the best value for your MySQL innodb_buffer_pool_size configuration?",
        "Let cPanel & WHM set MySQL's innodb_buffer_pool_size.",
    ),
    // [CFG] SQL
    on_off(
        "use_information_schema",
        Section::Sql,
        true,
        "Use INFORMATION_SCHEMA to acquire MySQL disk usage",
        "Read databases' disk usage from MySQL's INFORMATION_SCHEMA.",
    ),
    // [CFG] SQL
    on_off(
        "usemysqloldpass",
        Section::Sql,
        false,
        "Use pre-4.1-style MySQL\u{ae} passwords",
        "Store MySQL passwords in the old, pre-4.1 format.",
    ),
    // [CFG] Software, default `cpdavd,cphulkd,cpsrvd,dnsadmin,spamd` (Main.pm's own default marks cpdavd, cphulkd and
    // cpsrvd not dormant; the catalogue keeps the documented file default, as for every key). Main.pm: a multiselect
    // of Cpanel::Config::Constants' DORMANT_SERVICES_LIST.
    text(
        "dormant_services",
        Section::Software,
        TextRule::Subset(&["cpdavd", "cphulkd", "cpsrvd", "dnsadmin", "spamd"]),
        "cpdavd,cphulkd,cpsrvd,dnsadmin,spamd",
        "Dormant services",
        "Services that start only when a connection arrives and stop again after a period without connections, to \
         save memory.",
    ),
    // [CFG] Software
    on_off(
        "maintenance_rpm_version_check",
        Section::Software,
        true,
        "Maintenance cPanel RPM Check",
        "Check cPanel-provided packages during nightly maintenance.",
    ),
    // [CFG] Software
    on_off(
        "maintenance_rpm_version_digest_check",
        Section::Software,
        true,
        "Maintenance cPanel RPM Digest Check",
        "Also check the digests of cPanel-provided packages during maintenance.",
    ),
    // [CFG] Software
    inverse(
        "pma_disableis",
        Section::Software,
        false,
        "Enable phpMyAdmin information schema searches",
        "If between 100 and 1,000 databases exist on your server, you can disable this option to attempt to increase \
         performance. However, cPanel users must relog in to cPanel to allow phpMyAdmin to display newly-created databases.",
    ),
    // [CFG] Stats and Logs
    on_off(
        "awstatsbrowserupdate",
        Section::StatsAndLogs,
        false,
        "Allow users to update Awstats from cPanel",
        "Let users update their Awstats statistics from cPanel.",
    ),
    // [CFG] Stats and Logs
    on_off(
        "default_archive-logs",
        Section::StatsAndLogs,
        true,
        "Archive logs in the user's home directory at the end of each stats run unless configured by the user.",
        "Keep a copy of each domain's logs in the user's home directory after each statistics run.",
    ),
    // [CFG] Stats and Logs
    on_off(
        "default_remove-old-archived-logs",
        Section::StatsAndLogs,
        true,
        "Remove the previous month's archived logs from the user's home directory at the end of each month unless configured by the user.",
        "Delete last month's archived logs at the end of each month.",
    ),
    // [CFG] Stats and Logs
    on_off(
        "dumplogs",
        Section::StatsAndLogs,
        true,
        "Delete each domain's access logs after statistics are gathered",
        "Empty each domain's access log once statistics have been gathered from it.",
    ),
    // [CFG] Stats and Logs
    count(
        "exim_retention_days",
        Section::StatsAndLogs,
        Some(1),
        Some(365000),
        Some("days"),
        "10",
        "The interval, in days, to retain Exim stats in the database",
        "Days to keep Exim statistics in the database.",
    ),
    // [CFG] Stats and Logs
    count(
        "extracpus",
        Section::StatsAndLogs,
        Some(0),
        None,
        None,
        "0",
        "Extra CPUs for server load",
        "CPUs to add to the real count when the server load is judged.",
    ),
    // [CFG] Stats and Logs
    on_off(
        "keepftplogs",
        Section::StatsAndLogs,
        false,
        "Keep master FTP log file",
        "Keep the server's master FTP log after statistics are processed.",
    ),
    // [CFG] Stats and Logs
    on_off(
        "keeplogs",
        Section::StatsAndLogs,
        false,
        "Keep log files at the end of the month",
        "Keep domains' log files at the end of each month rather than emptying them.",
    ),
    // [CFG] Stats and Logs
    on_off(
        "keepstatslog",
        Section::StatsAndLogs,
        false,
        "Keep stats logs",
        "Keep the statistics processor's own logs.",
    ),
    // [CFG] Stats and Logs
    text(
        "logchmod",
        Section::StatsAndLogs,
        TextRule::Permissions,
        "0640",
        "Apache log file chmod value",
        "The permissions of Apache's log files.",
    ),
    // [CFG] Stats and Logs
    count(
        "modsec_keep_hits",
        Section::StatsAndLogs,
        Some(0),
        None,
        Some("days"),
        "7",
        "The number of days to keep records of ModSecurity\u{ae} rule hits. (Use zero to keep forever).",
        "Days to keep records of ModSecurity rule hits; zero keeps them forever.",
    ),
    // [CFG] Stats and Logs
    count(
        "rotatelogs_size_threshhold_in_megabytes",
        Section::StatsAndLogs,
        Some(10),
        None,
        Some("MB"),
        "300",
        "Log rotation size threshold",
        "The size at which cPanel & WHM's own logs are rotated.",
    ),
    // [CFG] Stats and Logs
    on_off(
        "showwhmbwusageinmegs",
        Section::StatsAndLogs,
        false,
        "Show bandwidth usage in megabytes by default in WHM",
        "Show bandwidth in megabytes rather than the most fitting unit.",
    ),
    // [CFG] Stats and Logs
    count(
        "statsloglevel",
        Section::StatsAndLogs,
        Some(1),
        Some(10),
        None,
        "1",
        "Stats log level",
        "How much the statistics processor writes to its log.",
    ),
    // [CFG] Stats and Logs
    count(
        "upcp_log_retention_days",
        Section::StatsAndLogs,
        Some(3),
        Some(999),
        Some("days"),
        "45",
        "Number of days to retain upcp logs before purging them",
        "These files can be found in the /var/cpanel/updatelogs directory.",
    ),
    // [CFG] Stats Programs
    on_off(
        "awstatsreversedns",
        Section::StatsPrograms,
        false,
        "Awstats reverse DNS resolution",
        "Let Awstats look up the hostnames of visitors' addresses.",
    ),
    // [CFG] Stats Programs
    inverse(
        "skipanalog",
        Section::StatsPrograms,
        false,
        "Enable Analog stats",
        "Offer Analog statistics.",
    ),
    // [CFG] Stats Programs
    inverse(
        "skipawstats",
        Section::StatsPrograms,
        false,
        "Enable Awstats stats",
        "Offer Awstats statistics.",
    ),
    // [CFG] Stats Programs
    inverse(
        "skipwebalizer",
        Section::StatsPrograms,
        false,
        "Enable Webalizer stats",
        "Offer Webalizer statistics.",
    ),
    // [CFG] Status, the section's one key: `undef` by default. Main.pm: `_is_positive_float`, can_undef. The
    // documentation does not say what undefined means.
    decimal(
        "loadthreshold",
        Section::Status,
        (Some(0), true),
        None,
        None,
        "undefined",
        "Critical load threshold",
        "The load average, counted above the number of CPUs, at which cPanel & WHM treats the server as under critical \
         load (for example when it runs backups and processes logs and statistics).",
    ),
    // [CFG] Support
    on_off(
        "display_cpanel_doclinks",
        Section::Support,
        false,
        "Display documentation links in cPanel interface",
        "Show links to cPanel's documentation in the cPanel interface.",
    ),
    // [CFG] Support
    on_off(
        "send_error_reports",
        Section::Support,
        false,
        "Send error reports to cPanel for analysis",
        "Send reports of errors in cPanel & WHM to cPanel.",
    ),
    // [CFG] Support
    // WHM lets it be undefined (Main.pm can_undef); the documentation does not say what undefined means.
    number(
        "update_log_analysis_retention_length",
        Section::Support,
        Some(0),
        None,
        Some("days"),
        Some("undefined"),
        Some("90"),
        "Update analysis retention interval",
        "Days to keep the analysis of update logs.",
    ),
    // [CFG] cPAddons Site Software
    text(
        "cpaddons_adminemail",
        Section::CpAddons,
        TextRule::Any,
        "",
        "cPAddons Site Software admin email",
        "A contact email address that receives cPAddon moderation requests.",
    ),
    // [CFG] cPAddons Site Software
    on_off(
        "cpaddons_autoupdate",
        Section::CpAddons,
        true,
        "cPAddons Site Software source automatic updates",
        "Update all cPAddons' source files automatically.",
    ),
    // [CFG] cPAddons Site Software
    count(
        "cpaddons_max_moderation_req_all_mod",
        Section::CpAddons,
        Some(1),
        None,
        Some("requests"),
        "99",
        "Max cPAddons Site Software installation requests",
        "The most moderation requests a single user may have at one time.",
    ),
    // [CFG] cPAddons Site Software
    count(
        "cpaddons_max_moderation_req_per_mod",
        Section::CpAddons,
        Some(1),
        None,
        Some("requests"),
        "99",
        "Max cPAddons Site Software installation requests per addon",
        "The most moderation requests per cPAddon a single user may have at one time.",
    ),
    // [CFG] cPAddons Site Software
    on_off(
        "cpaddons_moderation_request",
        Section::CpAddons,
        false,
        "cPAddons Site Software moderation notification",
        "Notify the cPAddons administrator of pending moderation requests.",
    ),
    // [CFG] cPAddons Site Software
    inverse(
        "cpaddons_no_3rd_party",
        Section::CpAddons,
        false,
        "Allow cPAddons Site Software installations from non-cPanel sources",
        "Allow cPAddons from sources other than cPanel.",
    ),
    // [CFG] cPAddons Site Software
    inverse(
        "cpaddons_no_modified_cpanel",
        Section::CpAddons,
        true,
        "Allow cPAddons Site Software installations from modified sources",
        "Allow cPanel-provided cPAddons whose source has been modified.",
    ),
    // [CFG] cPAddons Site Software
    on_off(
        "cpaddons_notify_owner",
        Section::CpAddons,
        true,
        "Notify reseller of cPAddons Site Software installations",
        "Notify the account's reseller when a user installs a cPAddon.",
    ),
    // [CFG] cPAddons Site Software
    on_off(
        "cpaddons_notify_root",
        Section::CpAddons,
        true,
        "Notify root of cPAddons Site Software installations",
        "Notify root when a user installs a cPAddon.",
    ),
    // [CFG] cPAddons Site Software
    choice(
        "cpaddons_notify_users",
        Section::CpAddons,
        &[same("Allow users to choose"), same("always"), same("never")],
        "Allow users to choose",
        "Notify cPanel users when they need to update their cPAddons Site Software installations",
        "Whether users are told when their cPAddon installations need an update.",
    ),
    // [CFG] Packages
    count(
        "default_pkg_bwlimit",
        Section::Packages,
        Some(1),
        None,
        Some("MB"),
        "1048576",
        "Default bandwidth limit for new packages",
        "The bandwidth limit that new packages start with.",
    ),
    // [CFG] Packages
    count(
        "default_pkg_max_emailacct_quota",
        Section::Packages,
        Some(1),
        None,
        Some("MB"),
        "1024",
        "Default maximum email quota for new packages",
        "The largest quota of each email account in new packages. It applies to each email account, not each cPanel account.",
    ),
    // [CFG] Packages
    count(
        "default_pkg_quota",
        Section::Packages,
        Some(1),
        None,
        Some("MB"),
        "10240",
        "Default disk usage quota for new packages",
        "The disk quota that new packages start with.",
    ),
    // [CFG] Development
    choice(
        "debugui",
        Section::Development,
        &[same("0"), same("1")],
        "0",
        "User Interface - Debug Mode",
        "Show debugging information in the user interfaces.",
    ),
    // [CFG] (no Tweak Settings equivalent: DNS Cluster page); [SPEC] well-known keys
    number(
        "cluster_autodisable_threshold",
        Section::DnsCluster,
        Some(0),
        None,
        Some("failures"),
        None,
        Some("10"),
        "Failure threshold for cluster members",
        "Failures after which a cluster member is disabled.",
    ),
    // [CFG] (no Tweak Settings equivalent: DNS Cluster page); [SPEC] well-known keys
    in_section(
        binary(
            "cluster_failure_notifications",
            true,
            "Receive a notification when WHM disables an unresponsive cluster member",
            "Notify when a cluster member fails.",
        ),
        Section::DnsCluster,
    ),
];
