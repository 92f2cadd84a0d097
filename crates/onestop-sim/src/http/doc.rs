//! The context a matter's document builder draws its data from.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::{
    citizens::{Citizen, Population},
    data::{self, Date, EMPLOYERS, STREETS},
};

/// Builds one citizen's document for one matter: a generator seeded from
/// (fleet seed, department, matter, citizen) and the citizen themself.
pub(crate) struct Doc<'a> {
    pub dept: &'static str,
    pub citizen: &'a Citizen,
    pub pop: &'a Population,
    pub rng: ChaCha8Rng,
}

impl<'a> Doc<'a> {
    pub fn new(
        pop: &'a Population,
        dept: &'static str,
        key: &str,
        citizen: &'a Citizen,
    ) -> Doc<'a> {
        Doc {
            dept,
            citizen,
            pop,
            rng: data::rng_for(pop.seed(), &[dept, key, &citizen.id]),
        }
    }

    /// The same citizen's context for another key: lets a payment see the
    /// bills the `bills` matter shows.
    pub fn sibling(&self, key: &str) -> Doc<'a> {
        Doc::new(self.pop, self.dept, key, self.citizen)
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        *data::pick(&mut self.rng, items)
    }

    /// An integer in `lo..=hi`.
    pub fn int(&mut self, lo: i64, hi: i64) -> i64 {
        self.rng.random_range(lo..=hi)
    }

    /// Fen between two whole-yuan amounts.
    pub fn yuan(&mut self, lo: i64, hi: i64) -> i64 {
        data::fen(&mut self.rng, lo, hi)
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    /// A day within the last `max_days` days.
    pub fn days_ago(&mut self, max_days: i64) -> Date {
        data::TODAY.add_days(-self.int(0, max_days))
    }

    /// `n` random decimal digits.
    pub fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.rng.random_range(0..10u8)))
            .collect()
    }

    /// A street address in the citizen's district.
    pub fn address(&mut self) -> String {
        let street = self.pick(STREETS);
        format!(
            "{}{}{}号{}栋{}-{}",
            self.citizen.area_name,
            street,
            self.int(1, 399),
            self.int(1, 12),
            self.int(1, 32),
            self.int(1, 8)
        )
    }

    pub fn employer(&mut self) -> &'static str {
        self.pick(EMPLOYERS)
    }
}
