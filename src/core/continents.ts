/**
 * Country → continent, for GeoIP databases whose records carry a country
 * but no continent (the flat ip-location-db layout, `country_code`).
 * Every ISO 3166-1 alpha-2 code (249) plus XK (Kosovo), with the continent
 * codes and assignments MaxMind's GeoLite2/GeoIP2 databases use
 * (`continent.code`: AF, AN, AS, EU, NA, OC, SA), so that a rule such as
 * `continent: EU` means the same with either layout (Russia and Cyprus are
 * EU, Turkey and the Caucasus AS, as in GeoLite2). Generated from the
 * country and continent pairs of a GeoLite2-Country database. Pure data.
 */

/** The continent codes a `continent:` rule may name. */
export const CONTINENTS: readonly string[] = Object.freeze(['AF', 'AN', 'AS', 'EU', 'NA', 'OC', 'SA']);

const BY_CONTINENT: Readonly<Record<string, string>> = {
  // Africa
  AF: 'AO BF BI BJ BW CD CF CG CI CM CV DJ DZ EG EH ER ET GA GH GM GN GQ GW KE KM LR LS LY MA MG ML MR MU MW MZ NA NE NG RE RW SC SD SH SL SN SO SS ST SZ TD TG TN TZ UG YT ZA ZM ZW',
  // Antarctica
  AN: 'AQ BV GS HM TF',
  // Asia
  AS: 'AE AF AM AZ BD BH BN BT CC CN GE HK ID IL IN IO IQ IR JO JP KG KH KP KR KW KZ LA LB LK MM MN MO MV MY NP OM PH PK PS QA SA SG SY TH TJ TM TR TW UZ VN YE',
  // Europe
  EU: 'AD AL AT AX BA BE BG BY CH CY CZ DE DK EE ES FI FO FR GB GG GI GR HR HU IE IM IS IT JE LI LT LU LV MC MD ME MK MT NL NO PL PT RO RS RU SE SI SJ SK SM UA VA XK',
  // North America
  NA: 'AG AI AW BB BL BM BQ BS BZ CA CR CU CW DM DO GD GL GP GT HN HT JM KN KY LC MF MQ MS MX NI PA PM PR SV SX TC TT US VC VG VI',
  // Oceania
  OC: 'AS AU CK CX FJ FM GU KI MH MP NC NF NR NU NZ PF PG PN PW SB TK TL TO TV UM VU WF WS',
  // South America
  SA: 'AR BO BR CL CO EC FK GF GY PE PY SR UY VE',
};

const CONTINENT_OF: ReadonlyMap<string, string> = new Map(
  Object.entries(BY_CONTINENT).flatMap(([continent, list]) => list.split(' ').map((country) => [country, continent] as [string, string])),
);

/** The continent code of ISO country code `country` (upper case), or null when unknown. */
export function continentOf(country: string): string | null {
  return CONTINENT_OF.get(country) ?? null;
}

/** Every known country code (for validating `country:` rules). */
export function isCountryCode(code: string): boolean {
  return CONTINENT_OF.has(code);
}
