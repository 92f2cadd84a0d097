//! Checks of `[messages]` and of the channels' webhooks (`notify_url`,
//! `notify_secret_file`).

use std::time::Duration;

use super::{GatewayDoc, Validator};
use crate::Config;
use crate::access::Channel;

impl Validator {
    pub(super) fn message_settings(&mut self, doc: &GatewayDoc<'_>, config: &Config) {
        let m = &config.gateway.messages;
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        for (key, value, low, high) in [
            ("first_retry", m.first_retry, s(1), s(3600)),
            (
                "max_retry_interval",
                m.max_retry_interval,
                s(1),
                s(24 * 3600),
            ),
            ("max_age", m.max_age, s(60), s(30 * 24 * 3600)),
            ("interval", m.interval, ms(100), s(3600)),
            ("lease", m.lease, s(1), s(3600)),
            ("timeout", m.timeout, ms(100), s(60)),
        ] {
            if !(low..=high).contains(&value) {
                self.gw(
                    doc,
                    &[&format!("messages.{key}")],
                    format!(
                        "messages.{key} must be between {} and {}, got {}",
                        humantime::format_duration(low),
                        humantime::format_duration(high),
                        humantime::format_duration(value)
                    ),
                );
            }
        }
        if m.max_retry_interval < m.first_retry {
            self.gw(
                doc,
                &["messages.max_retry_interval"],
                "messages.max_retry_interval must be at least messages.first_retry".into(),
            );
        }
        if !(1..=500).contains(&m.batch) {
            self.gw(
                doc,
                &["messages.batch"],
                format!("messages.batch must be between 1 and 500, got {}", m.batch),
            );
        }
        if m.lease < m.interval * 2 || m.lease < m.timeout * 4 {
            self.gw(
                doc,
                &["messages.lease"],
                "messages.lease must be at least twice messages.interval and four times messages.timeout"
                    .into(),
            );
        }
    }

    pub(super) fn channel_webhook(&mut self, doc: &GatewayDoc<'_>, id: &str, ch: &Channel) {
        match (&ch.notify_url, &ch.notify_secret_file) {
            (None, None) => {}
            (Some(url), secret) => {
                let u = url.get_ref();
                let ok = (u.starts_with("http://") || u.starts_with("https://"))
                    && u.split("://").nth(1).is_some_and(|rest| {
                        !rest.is_empty() && !rest.starts_with('/') && !rest.contains(' ')
                    });
                if !ok {
                    self.gw_at(
                        doc,
                        url,
                        format!("channel `{id}`: notify_url must be an http:// or https:// URL"),
                    );
                }
                match secret {
                    None => self.gw_at(
                        doc,
                        url,
                        format!("channel `{id}`: notify_url needs notify_secret_file"),
                    ),
                    Some(f) if f.get_ref().trim().is_empty() => self.gw_at(
                        doc,
                        f,
                        format!("channel `{id}`: notify_secret_file must name a file"),
                    ),
                    Some(_) => {}
                }
            }
            (None, Some(f)) => self.gw_at(
                doc,
                f,
                format!("channel `{id}`: notify_secret_file without notify_url"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use crate::{Diagnostics, Source, parse_sources};

    fn problems(gateway: &str) -> Vec<String> {
        match parse_sources(Some(Source::new("onestop.toml", gateway)), Vec::new()) {
            Ok(_) => Vec::new(),
            Err(Diagnostics(p)) => p
                .iter()
                .map(|d| format!("{}:{}:{} {}", d.file.display(), d.line, d.col, d.message))
                .collect(),
        }
    }

    const KEY: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn channel(extra: &str) -> String {
        format!("[[channels]]\nid = \"app\"\nname = \"App\"\nkey_sha256 = \"{KEY}\"\n{extra}")
    }

    #[test]
    fn a_webhook_needs_a_url_and_a_secret() {
        let ok = channel(
            "notify_url = \"http://127.0.0.1:9/hook\"\nnotify_secret_file = \"keys/app.secret\"\n",
        );
        assert_eq!(problems(&ok), Vec::<String>::new());
        let p = problems(&channel("notify_url = \"http://127.0.0.1:9/hook\"\n"));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("onestop.toml:5:14 ") && p[0].contains("needs notify_secret_file"),
            "{p:?}"
        );
        let p = problems(&channel(
            "notify_url = \"ftp://x\"\nnotify_secret_file = \"s\"\n",
        ));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("onestop.toml:5:14 ") && p[0].contains("http:// or https://"),
            "{p:?}"
        );
        let p = problems(&channel("notify_secret_file = \"s\"\n"));
        assert!(
            p[0].starts_with("onestop.toml:5:") && p[0].contains("without notify_url"),
            "{p:?}"
        );
        let p = problems(&channel("notify = \"x\"\n"));
        assert!(p[0].contains("notify"), "{p:?}");
    }

    #[test]
    fn the_messages_section_is_checked() {
        assert_eq!(
            problems("[messages]\nmax_age = \"72h\"\n"),
            Vec::<String>::new()
        );
        let p = problems("[messages]\nbatch = 0\n");
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("onestop.toml:2:") && p[0].contains("messages.batch"),
            "{p:?}"
        );
        let p = problems("[messages]\nfirst_retry = \"2h\"\n");
        assert!(
            p.iter()
                .any(|m| m.contains("messages.first_retry") && m.starts_with("onestop.toml:2:")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|m| m.contains("max_retry_interval must be at least")),
            "{p:?}"
        );
        let p = problems("[messages]\nretries = 3\n");
        assert!(!p.is_empty() && p[0].contains("retries"), "{p:?}");
    }
}
