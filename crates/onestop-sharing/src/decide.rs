//! The exchange's access decision, pure: which agreement allows a read,
//! and whether the citizen's consent is needed and given. Every denial
//! names its reason; the provider is contacted only after `Ok`.

use onestop_config::SharingClass;
use onestop_store::{AgreementRecord, AgreementState, ConsentRecord, Millis};

use crate::catalog::Item;

/// Why an exchange was denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Denial {
    /// The item is `not_shared`.
    NotShared,
    /// The consumer has no agreement for the item at all.
    NoAgreement,
    /// Agreements exist, but none for the stated purpose.
    WrongPurpose,
    /// The agreement for the purpose still waits for its decision.
    Pending,
    /// The agreement for the purpose was rejected.
    Rejected,
    /// The agreement for the purpose was revoked.
    Revoked,
    /// The agreement for the purpose has expired.
    Expired,
    /// Conditional personal data: the citizen never consented to this
    /// consumer and purpose.
    NoConsent,
    /// The citizen's consent was revoked.
    ConsentRevoked,
}

impl Denial {
    /// A stable code for logs, metrics and the audit record.
    pub fn code(self) -> &'static str {
        match self {
            Denial::NotShared => "not_shared",
            Denial::NoAgreement => "no_agreement",
            Denial::WrongPurpose => "wrong_purpose",
            Denial::Pending => "agreement_pending",
            Denial::Rejected => "agreement_rejected",
            Denial::Revoked => "agreement_revoked",
            Denial::Expired => "agreement_expired",
            Denial::NoConsent => "no_consent",
            Denial::ConsentRevoked => "consent_revoked",
        }
    }

    /// What the consumer is told.
    pub fn message(self) -> &'static str {
        match self {
            Denial::NotShared => "the data item is not shared",
            Denial::NoAgreement => "no sharing agreement covers this data item for the caller",
            Denial::WrongPurpose => {
                "no sharing agreement of the caller for this data item names the stated purpose"
            }
            Denial::Pending => "the sharing agreement for this purpose is not approved yet",
            Denial::Rejected => "the sharing agreement for this purpose was rejected",
            Denial::Revoked => "the sharing agreement for this purpose was revoked",
            Denial::Expired => "the sharing agreement for this purpose has expired",
            Denial::NoConsent => {
                "the citizen has not consented to this consumer reading the data for this purpose"
            }
            Denial::ConsentRevoked => "the citizen revoked consent for this consumer and purpose",
        }
    }
}

/// The agreement that allows `consumer`'s read of `item` for `purpose`
/// at `now`, among `agreements` (the consumer's for the item), or why none
/// does. With several candidates the one expiring last is chosen.
pub fn agreement<'a>(
    item: &Item,
    agreements: &'a [AgreementRecord],
    purpose: &str,
    now: Millis,
) -> Result<&'a AgreementRecord, Denial> {
    if item.sharing == SharingClass::NotShared {
        return Err(Denial::NotShared);
    }
    let for_purpose: Vec<&AgreementRecord> = agreements
        .iter()
        .filter(|a| a.agreement.item == item.id && a.agreement.purpose == purpose)
        .collect();
    if let Some(best) = for_purpose
        .iter()
        .filter(|a| a.state == AgreementState::Approved && a.agreement.expires_at > now)
        .max_by_key(|a| a.agreement.expires_at)
    {
        return Ok(best);
    }
    if for_purpose.is_empty() {
        return Err(if agreements.iter().any(|a| a.agreement.item == item.id) {
            Denial::WrongPurpose
        } else {
            Denial::NoAgreement
        });
    }
    // The most telling reason among this purpose's agreements: one that
    // was approved and ran out, then one waiting, then one withdrawn.
    let has = |pred: &dyn Fn(&AgreementRecord) -> bool| for_purpose.iter().any(|a| pred(a));
    Err(if has(&|a| a.state == AgreementState::Approved) {
        Denial::Expired
    } else if has(&|a| a.state == AgreementState::Pending) {
        Denial::Pending
    } else if has(&|a| a.state == AgreementState::Revoked) {
        Denial::Revoked
    } else {
        Denial::Rejected
    })
}

/// Whether the read needs the citizen's consent: conditional items that
/// hold personal data.
pub fn needs_consent(item: &Item) -> bool {
    item.sharing == SharingClass::Conditional && item.personal
}

/// The consent check, given the citizen's record for this consumer and
/// purpose (if any).
pub fn consent(item: &Item, record: Option<&ConsentRecord>) -> Result<(), Denial> {
    if !needs_consent(item) {
        return Ok(());
    }
    match record {
        Some(c) if c.granted => Ok(()),
        Some(_) => Err(Denial::ConsentRevoked),
        None => Err(Denial::NoConsent),
    }
}

#[cfg(test)]
mod tests;
