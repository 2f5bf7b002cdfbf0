//! Countries by continent: the defaults for regions.

use super::Country;

/// A continent, by its two-letter code (AF, AN, AS, EU, NA, OC, SA).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Continent {
    /// Two-letter code.
    pub code: &'static str,
    /// Region name it suggests (`europe`, `north-america`, …).
    pub name: &'static str,
}

/// The seven continents.
pub const CONTINENTS: [Continent; 7] = [
    Continent { code: "AF", name: "africa" },
    Continent { code: "AN", name: "antarctica" },
    Continent { code: "AS", name: "asia" },
    Continent { code: "EU", name: "europe" },
    Continent { code: "NA", name: "north-america" },
    Continent { code: "OC", name: "oceania" },
    Continent { code: "SA", name: "south-america" },
];

/// The continent of `country`, if it is an assigned ISO 3166-1 code.
pub fn of(country: Country) -> Option<Continent> {
    todo!("{country:?}")
}

/// Every assigned country of `continent`, sorted.
pub fn countries(continent: Continent) -> Vec<Country> {
    todo!("{continent:?}")
}
