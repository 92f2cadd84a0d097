//! A gateway set up as a province would run it: a citizen identity
//! provider (a generated Ed25519 key, as the dev key), channels with app
//! keys, and a signing master key that the simulated departments verify.

use std::path::Path;
use std::time::{Duration, SystemTime};

use onestop_policy::jwt::DevSigner;

pub const ISSUER: &str = "https://idp.test.onestop.invalid";
pub const AUDIENCE: &str = "onestop";
pub const KID: &str = "test-1";

/// Credentials of a secured test gateway.
pub struct Secure {
    pub signer: DevSigner,
    pem: String,
    /// The signing master key, hex.
    pub signing_key_hex: String,
    /// `(channel id, app key)`; the first may call everything.
    pub channels: Vec<(String, String)>,
}

impl Default for Secure {
    fn default() -> Self {
        Secure::new()
    }
}

impl Secure {
    pub fn new() -> Secure {
        let (signer, pem) = DevSigner::generate(KID, ISSUER, AUDIENCE).expect("dev key");
        Secure {
            signer,
            pem,
            signing_key_hex: onestop::tokens::new_signing_key(),
            channels: ["super-app", "mini-program"]
                .iter()
                .map(|id| (id.to_string(), onestop::tokens::new_app_key().0))
                .collect(),
        }
    }

    /// One gateway over `fleet` with verified citizens (these keys) and
    /// `extra` appended to its gateway file (appeals rules, sharing
    /// settings and the like), two public threads.
    pub async fn citizens_gateway(
        &self,
        fleet: &crate::FleetManifest,
        extra: String,
    ) -> crate::Gateway {
        crate::Gateway::start_setup(
            fleet,
            &crate::ConfigOptions {
                citizen_auth: true,
                ..crate::ConfigOptions::default()
            },
            |config| self.write_keys(config),
            crate::GatewaySetup {
                threads: 2,
                extra,
                ..crate::GatewaySetup::default()
            },
        )
        .await
    }

    /// Writes the key files into a configuration directory.
    pub fn write_keys(&self, config_dir: &Path) {
        let keys = config_dir.join("keys");
        std::fs::create_dir_all(&keys).expect("keys dir");
        std::fs::write(keys.join("dev.pem"), &self.pem).expect("dev key");
        std::fs::write(keys.join("signing.key"), &self.signing_key_hex).expect("signing key");
    }

    /// The dev key's PEM (to sign hand-made tokens).
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// The gateway-file TOML of identity, signing and channels
    /// (`channel_extra[i]` is appended to channel `i`'s table, e.g.
    /// `routes = ["hpf/*"]`; without it the channel may call everything).
    pub fn gateway_toml(&self, channel_extra: &[&str]) -> String {
        let mut text = Secure::identity_toml();
        text.push_str("\n[signing]\nkey_file = \"keys/signing.key\"\n");
        for (i, (id, key)) in self.channels.iter().enumerate() {
            let hash = onestop_core::digest::sha256_hex(key.as_bytes());
            let extra = channel_extra.get(i).copied().unwrap_or("");
            text.push_str(&format!(
                "\n[[channels]]\nid = \"{id}\"\nname = \"{id}\"\nkey_sha256 = \"{hash}\"\n{extra}\n"
            ));
        }
        text
    }

    /// The gateway-file TOML of the identity provider alone (no channels:
    /// no app key is asked for; no signing key), for a gateway that only
    /// needs verified citizens on its own APIs (appeals).
    pub fn identity_toml() -> String {
        format!(
            "\n[[identity.issuers]]\nid = \"test-idp\"\nissuer = \"{ISSUER}\"\naudiences = [\"{AUDIENCE}\"]\nalgorithms = [\"EdDSA\"]\n\n\
             [identity.dev_key]\nissuer = \"test-idp\"\nprivate_key_file = \"keys/dev.pem\"\nkid = \"{KID}\"\n"
        )
    }

    /// A client with `citizen`'s token and no app key (a gateway set up
    /// with [`Secure::identity_toml`]).
    pub fn citizen_client(&self, citizen: &str) -> reqwest::Client {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {}", self.token(citizen))
                .parse()
                .expect("token"),
        );
        crate::client_builder()
            .default_headers(headers)
            .build()
            .expect("client")
    }

    /// A valid token for `citizen` (1 h).
    pub fn token(&self, citizen: &str) -> String {
        self.signer
            .mint(citizen, None, Duration::from_secs(3600), SystemTime::now())
    }

    /// The first channel's app key.
    pub fn app_key(&self) -> &str {
        &self.channels[0].1
    }

    /// A client with the first channel's app key and `citizen`'s token.
    pub fn client(&self, citizen: Option<&str>) -> reqwest::Client {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-onestop-app-key", self.app_key().parse().expect("key"));
        if let Some(c) = citizen {
            headers.insert(
                reqwest::header::AUTHORIZATION,
                format!("Bearer {}", self.token(c)).parse().expect("token"),
            );
        }
        crate::client_builder()
            .default_headers(headers)
            .build()
            .expect("client")
    }

    /// A gateway with this identity, channels (`channel_extra` appended to
    /// each `[[channels]]`) and signing key in front of `sim` (which should
    /// verify signatures with `signing_key_hex`), citizen auth on the
    /// fleet's citizen matters; each `(dept, toml)` of `routes` is appended
    /// to that department's file and `gateway_extra` to the gateway file.
    pub async fn gateway(
        &self,
        sim: &crate::Sim,
        channel_extra: &[&str],
        routes: &[(&str, &str)],
        gateway_extra: &str,
    ) -> crate::Gateway {
        let mut extra = self.gateway_toml(channel_extra);
        extra.push_str(gateway_extra);
        crate::Gateway::start_setup(
            &sim.manifest,
            &crate::ConfigOptions {
                citizen_auth: true,
                ..crate::ConfigOptions::default()
            },
            |config| {
                self.write_keys(config);
                for (dept, text) in routes {
                    let file = config.join(format!("departments/{dept}.toml"));
                    let mut current = std::fs::read_to_string(&file).expect("department file");
                    current.push_str(text);
                    std::fs::write(file, current).expect("department file");
                }
            },
            crate::GatewaySetup {
                threads: 2,
                extra,
                ..crate::GatewaySetup::default()
            },
        )
        .await
    }
}
