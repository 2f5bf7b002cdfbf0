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
    Continent {
        code: "AF",
        name: "africa",
    },
    Continent {
        code: "AN",
        name: "antarctica",
    },
    Continent {
        code: "AS",
        name: "asia",
    },
    Continent {
        code: "EU",
        name: "europe",
    },
    Continent {
        code: "NA",
        name: "north-america",
    },
    Continent {
        code: "OC",
        name: "oceania",
    },
    Continent {
        code: "SA",
        name: "south-america",
    },
];

// Indices into CONTINENTS.
const AF: u8 = 0;
const AN: u8 = 1;
const AS: u8 = 2;
const EU: u8 = 3;
const NA: u8 = 4;
const OC: u8 = 5;
const SA: u8 = 6;

/// Every assigned ISO 3166-1 alpha-2 code, plus XK (Kosovo: user-assigned,
/// but used by MaxMind, DB-IP and GeoNames), with its continent as GeoNames
/// and MaxMind assign them (RU, CY: EU; TR, GE, AM, AZ, KZ: AS; EG: AF;
/// Central America and the Caribbean: NA; the uninhabited southern
/// islands: AN). Sorted by code.
#[rustfmt::skip]
static TABLE: [([u8; 2], u8); 250] = [
    (*b"AD", EU), (*b"AE", AS), (*b"AF", AS), (*b"AG", NA), (*b"AI", NA), (*b"AL", EU),
    (*b"AM", AS), (*b"AO", AF), (*b"AQ", AN), (*b"AR", SA), (*b"AS", OC), (*b"AT", EU),
    (*b"AU", OC), (*b"AW", NA), (*b"AX", EU), (*b"AZ", AS),
    (*b"BA", EU), (*b"BB", NA), (*b"BD", AS), (*b"BE", EU), (*b"BF", AF), (*b"BG", EU),
    (*b"BH", AS), (*b"BI", AF), (*b"BJ", AF), (*b"BL", NA), (*b"BM", NA), (*b"BN", AS),
    (*b"BO", SA), (*b"BQ", NA), (*b"BR", SA), (*b"BS", NA), (*b"BT", AS), (*b"BV", AN),
    (*b"BW", AF), (*b"BY", EU), (*b"BZ", NA),
    (*b"CA", NA), (*b"CC", AS), (*b"CD", AF), (*b"CF", AF), (*b"CG", AF), (*b"CH", EU),
    (*b"CI", AF), (*b"CK", OC), (*b"CL", SA), (*b"CM", AF), (*b"CN", AS), (*b"CO", SA),
    (*b"CR", NA), (*b"CU", NA), (*b"CV", AF), (*b"CW", NA), (*b"CX", AS), (*b"CY", EU),
    (*b"CZ", EU),
    (*b"DE", EU), (*b"DJ", AF), (*b"DK", EU), (*b"DM", NA), (*b"DO", NA), (*b"DZ", AF),
    (*b"EC", SA), (*b"EE", EU), (*b"EG", AF), (*b"EH", AF), (*b"ER", AF), (*b"ES", EU),
    (*b"ET", AF),
    (*b"FI", EU), (*b"FJ", OC), (*b"FK", SA), (*b"FM", OC), (*b"FO", EU), (*b"FR", EU),
    (*b"GA", AF), (*b"GB", EU), (*b"GD", NA), (*b"GE", AS), (*b"GF", SA), (*b"GG", EU),
    (*b"GH", AF), (*b"GI", EU), (*b"GL", NA), (*b"GM", AF), (*b"GN", AF), (*b"GP", NA),
    (*b"GQ", AF), (*b"GR", EU), (*b"GS", AN), (*b"GT", NA), (*b"GU", OC), (*b"GW", AF),
    (*b"GY", SA),
    (*b"HK", AS), (*b"HM", AN), (*b"HN", NA), (*b"HR", EU), (*b"HT", NA), (*b"HU", EU),
    (*b"ID", AS), (*b"IE", EU), (*b"IL", AS), (*b"IM", EU), (*b"IN", AS), (*b"IO", AS),
    (*b"IQ", AS), (*b"IR", AS), (*b"IS", EU), (*b"IT", EU),
    (*b"JE", EU), (*b"JM", NA), (*b"JO", AS), (*b"JP", AS),
    (*b"KE", AF), (*b"KG", AS), (*b"KH", AS), (*b"KI", OC), (*b"KM", AF), (*b"KN", NA),
    (*b"KP", AS), (*b"KR", AS), (*b"KW", AS), (*b"KY", NA), (*b"KZ", AS),
    (*b"LA", AS), (*b"LB", AS), (*b"LC", NA), (*b"LI", EU), (*b"LK", AS), (*b"LR", AF),
    (*b"LS", AF), (*b"LT", EU), (*b"LU", EU), (*b"LV", EU), (*b"LY", AF),
    (*b"MA", AF), (*b"MC", EU), (*b"MD", EU), (*b"ME", EU), (*b"MF", NA), (*b"MG", AF),
    (*b"MH", OC), (*b"MK", EU), (*b"ML", AF), (*b"MM", AS), (*b"MN", AS), (*b"MO", AS),
    (*b"MP", OC), (*b"MQ", NA), (*b"MR", AF), (*b"MS", NA), (*b"MT", EU), (*b"MU", AF),
    (*b"MV", AS), (*b"MW", AF), (*b"MX", NA), (*b"MY", AS), (*b"MZ", AF),
    (*b"NA", AF), (*b"NC", OC), (*b"NE", AF), (*b"NF", OC), (*b"NG", AF), (*b"NI", NA),
    (*b"NL", EU), (*b"NO", EU), (*b"NP", AS), (*b"NR", OC), (*b"NU", OC), (*b"NZ", OC),
    (*b"OM", AS),
    (*b"PA", NA), (*b"PE", SA), (*b"PF", OC), (*b"PG", OC), (*b"PH", AS), (*b"PK", AS),
    (*b"PL", EU), (*b"PM", NA), (*b"PN", OC), (*b"PR", NA), (*b"PS", AS), (*b"PT", EU),
    (*b"PW", OC), (*b"PY", SA),
    (*b"QA", AS),
    (*b"RE", AF), (*b"RO", EU), (*b"RS", EU), (*b"RU", EU), (*b"RW", AF),
    (*b"SA", AS), (*b"SB", OC), (*b"SC", AF), (*b"SD", AF), (*b"SE", EU), (*b"SG", AS),
    (*b"SH", AF), (*b"SI", EU), (*b"SJ", EU), (*b"SK", EU), (*b"SL", AF), (*b"SM", EU),
    (*b"SN", AF), (*b"SO", AF), (*b"SR", SA), (*b"SS", AF), (*b"ST", AF), (*b"SV", NA),
    (*b"SX", NA), (*b"SY", AS), (*b"SZ", AF),
    (*b"TC", NA), (*b"TD", AF), (*b"TF", AN), (*b"TG", AF), (*b"TH", AS), (*b"TJ", AS),
    (*b"TK", OC), (*b"TL", OC), (*b"TM", AS), (*b"TN", AF), (*b"TO", OC), (*b"TR", AS),
    (*b"TT", NA), (*b"TV", OC), (*b"TW", AS), (*b"TZ", AF),
    (*b"UA", EU), (*b"UG", AF), (*b"UM", OC), (*b"US", NA), (*b"UY", SA), (*b"UZ", AS),
    (*b"VA", EU), (*b"VC", NA), (*b"VE", SA), (*b"VG", NA), (*b"VI", NA), (*b"VN", AS),
    (*b"VU", OC),
    (*b"WF", OC), (*b"WS", OC),
    (*b"XK", EU),
    (*b"YE", AS), (*b"YT", AF),
    (*b"ZA", AF), (*b"ZM", AF), (*b"ZW", AF),
];

/// The continent of `country`, if it is an assigned ISO 3166-1 code.
pub fn of(country: Country) -> Option<Continent> {
    let i = TABLE.binary_search_by_key(&country.0, |e| e.0).ok()?;
    CONTINENTS.get(usize::from(TABLE[i].1)).copied()
}

/// Every assigned country of `continent`, sorted.
pub fn countries(continent: Continent) -> Vec<Country> {
    let Some(index) = CONTINENTS.iter().position(|c| c.code == continent.code) else {
        return Vec::new();
    };
    TABLE
        .iter()
        .filter(|e| usize::from(e.1) == index)
        .map(|e| Country(e.0))
        .collect()
}

/// The continent with this code or region name (any case): `EU`, `europe`.
pub fn named(code_or_name: &str) -> Option<Continent> {
    let wanted = code_or_name.trim();
    CONTINENTS
        .into_iter()
        .find(|c| c.code.eq_ignore_ascii_case(wanted) || c.name.eq_ignore_ascii_case(wanted))
}

/// The codes of `continent`'s countries split into those not in `taken`
/// and those that are, both sorted.
pub fn split_taken<S: AsRef<str>>(continent: Continent, taken: &[S]) -> (Vec<String>, Vec<String>) {
    countries(continent)
        .into_iter()
        .map(|c| c.as_str().to_string())
        .partition(|c| !taken.iter().any(|t| t.as_ref() == c))
}

/// Every continent with all its countries: what default regions are made
/// of ([`crate::model::default_regions`]).
pub fn regions() -> Vec<crate::model::ContinentRegion> {
    CONTINENTS
        .into_iter()
        .map(|c| crate::model::ContinentRegion {
            name: c.name,
            countries: countries(c)
                .iter()
                .map(|c| c.as_str().to_string())
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn continent(code: &str) -> Continent {
        *CONTINENTS
            .iter()
            .find(|c| c.code == code)
            .expect("a continent")
    }

    fn of_str(country: &str) -> Option<&'static str> {
        of(Country::parse(country)?).map(|c| c.code)
    }

    #[test]
    fn the_table_is_sorted_without_duplicates_and_every_code_parses() {
        assert_eq!(TABLE.len(), 250, "249 ISO 3166-1 codes and XK");
        assert!(
            TABLE.windows(2).all(|w| w[0].0 < w[1].0),
            "sorted, no duplicates"
        );
        for (code, cont) in TABLE {
            let text = std::str::from_utf8(&code).expect("text");
            assert_eq!(Country::parse(text), Some(Country(code)), "{text}");
            assert!(usize::from(cont) < CONTINENTS.len());
        }
    }

    #[test]
    fn known_assignments() {
        for (country, cont) in [
            ("DE", "EU"),
            ("RU", "EU"),
            ("TR", "AS"),
            ("CY", "EU"),
            ("GE", "AS"),
            ("KZ", "AS"),
            ("EG", "AF"),
            ("MX", "NA"),
            ("PA", "NA"),
            ("GL", "NA"),
            ("BR", "SA"),
            ("AQ", "AN"),
            ("BV", "AN"),
            ("AU", "OC"),
            ("NZ", "OC"),
            ("TL", "OC"),
            ("JP", "AS"),
            ("US", "NA"),
            ("us", "NA"),
            ("XK", "EU"),
        ] {
            assert_eq!(of_str(country), Some(cont), "{country}");
        }
        for unassigned in ["AA", "ZZ", "EU", "AP", "UK", "QZ"] {
            assert_eq!(of_str(unassigned), None, "{unassigned}");
        }
        assert_eq!(of(Country(*b"--")), None);
    }

    #[test]
    fn countries_by_continent_are_sorted_and_cover_the_table() {
        let mut total = 0;
        for cont in CONTINENTS {
            let list = countries(cont);
            assert!(list.windows(2).all(|w| w[0] < w[1]), "{}", cont.code);
            for c in &list {
                assert_eq!(of(*c), Some(cont));
            }
            total += list.len();
        }
        assert_eq!(total, TABLE.len());
        let europe = countries(continent("EU"));
        assert!(europe.contains(&Country(*b"FR")));
        assert!(!europe.contains(&Country(*b"TR")));
        assert_eq!(
            countries(continent("AN")),
            [*b"AQ", *b"BV", *b"GS", *b"HM", *b"TF"]
                .map(Country)
                .to_vec()
        );
        let unknown = Continent {
            code: "XX",
            name: "nowhere",
        };
        assert!(countries(unknown).is_empty());
    }
}
