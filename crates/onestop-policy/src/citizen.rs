//! Object-level authorisation (BOLA): a citizen may only name themselves.
//!
//! A route with a citizen parameter (`/api/v1/depts/hpf/citizens/{citizen}/…`)
//! serves the token's citizen only. The path value `me` means the token's
//! citizen; any other value must equal the token's citizen id exactly, byte
//! for byte and case-sensitively, as sent after path normalisation
//! ([`crate::path::normalize`] decodes escapes of unreserved characters, so
//! `%58` is `X`, but `x` stays `x`). Resident ID numbers end in an upper-case
//! check character `X`; a lower-case `x` names nobody. Anything else is
//! [`Owner::NotMine`], which the proxy answers with 404 — the same answer as
//! for a citizen that does not exist, so ids cannot be probed.

/// The path segment that means "the token's citizen".
pub const ME: &str = "me";

/// Whose data a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner<'a> {
    /// The token's citizen: the id to use toward the department (`me`
    /// resolved).
    Mine(&'a str),
    /// Somebody else (404).
    NotMine,
}

/// Resolves the citizen named in the path (`path_value`) against the
/// token's citizen. An empty token citizen owns nothing.
pub fn resolve<'a>(path_value: &str, token_citizen: &'a str) -> Owner<'a> {
    if token_citizen.is_empty() {
        return Owner::NotMine;
    }
    if path_value == ME || path_value == token_citizen {
        Owner::Mine(token_citizen)
    } else {
        Owner::NotMine
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const ID: &str = "11010519491231002X";

    #[test]
    fn me_and_own_id() {
        assert_eq!(resolve("me", ID), Owner::Mine(ID));
        assert_eq!(resolve(ID, ID), Owner::Mine(ID));
    }

    #[test]
    fn anybody_else() {
        for other in [
            "11010519491231003X",
            "11010519491231002x",
            "11010519491231002",
            "11010519491231002X ",
            " 11010519491231002X",
            "11010519491231002X/",
            "11010519491231002%58",
            "ME",
            "Me",
            "me ",
            "",
            "*",
            "..",
        ] {
            assert_eq!(resolve(other, ID), Owner::NotMine, "{other:?}");
        }
    }

    #[test]
    fn empty_token_citizen_owns_nothing() {
        assert_eq!(resolve("", ""), Owner::NotMine);
        assert_eq!(resolve("me", ""), Owner::NotMine);
    }

    #[test]
    fn after_normalisation_an_encoded_x_is_x() {
        let path = crate::path::normalize("/citizens/11010519491231002%58").unwrap();
        let value = path.as_str().rsplit('/').next().unwrap();
        assert_eq!(resolve(value, ID), Owner::Mine(ID));
    }
}
