"""The synthetic force's world: the study's targets, the tunable proportions and every word list and title.

Data only (no function). The figures come from the source study (docs/method.md); `_P` holds the
scale-1 counts that `scale` multiplies.
"""

from __future__ import annotations

import numpy as np

# ----------------------------------------------------------------------------------------------
# Constants of the synthetic world
# ----------------------------------------------------------------------------------------------

AS_OF = np.datetime64("2021-03-15", "D")  # the study's extract date: no date in the files is later
_D = AS_OF.astype(np.int64)  # days since 1970-01-01
_YEAR0 = 2010

# The study's figures at scale 1 (section 9.1); `_calibrate` reports the output against these.
TARGETS = {
    "full_table_crimes": 69_058,
    "full_table_rows": 77_707,
    "full_table_offenders": 55_323,
    "single_offender_crime_share": 0.98,
    "max_offenders_per_crime": 8,
    "final_table_pairs": 28_758,
    "final_table_offenders": 20_432,
    "final_table_crimes": 19_995,
    "under10_offender_rows_removed": 2_375,
    "victim_born_after_offence_crimes": 306,
    "victim_female_share": 0.66,
    "offender_male_share": 0.75,
    "offender_ethnicity_unknown_share": 0.95,
    "intel_nominals_rows": 3_000_000,
}

# Tunable proportions (scale 1 counts are multiplied by `scale`).
_P = {
    "victims_single": 39_000,  # victims with one selected crime
    "victims_repeat": 3_600,  # victims with 2-4 crimes by one offender (no link)
    "victims_linked": 5_200,  # victims with crimes by two or more offenders (the links)
    "linked_repeat_offender": 0.02,  # chance a later crime on a linked victim reuses an earlier offender
    "fresh_offender": 0.82,  # chance a crime's offender is a new person, else a repeat offender
    "repeat_pool": 5_000,  # repeat (prolific) offenders
    "multi_offender_crime": 0.02,  # share of crimes with 2..8 offenders
    "second_victim": 0.075,  # share of crimes with a second victim
    "third_victim": 0.012,
    "teen_offender": 0.40,  # offenders who are teenagers at their first crime (the first age peak)
    "offender_dob_missing": 0.04,
    "large_rings": 10,
    "small_rings": 100,
    "under10_rows": 2_375,
    "born_after": 306,
    "overlap_people": 300,  # victim-offender overlaps planted
    "adult_victim_sexual": 22_000,  # rejected: adult victims
    "da_flagged": 4_500,  # rejected: domestic abuse
    "victim_no_dob": 3_000,  # rejected: victim with no date of birth (data gap)
    "flag_only_gap": 400,  # selected by CSE flag only (title and MO silent)
    "other_crimes": 120_000,  # rejected: other offences
    "intel_only_people": 250_000,
    "intel_logs": 520_000,
    "community_size": 25,
    "soc_groups": 120,
    "cell_pairs": 1_500,
}

LOCAL_AREAS = ("Birmingham", "Coventry", "Dudley", "Sandwell", "Solihull", "Walsall", "Wolverhampton")
_AREA_W = (0.38, 0.13, 0.11, 0.11, 0.07, 0.10, 0.10)
LOCATION_TYPES = ("residential", "public space", "online", "school", "hotel", "fast food outlet", "vehicle", "park",
                  "shop")
_LOC_W = (0.46, 0.13, 0.13, 0.06, 0.04, 0.03, 0.06, 0.05, 0.04)

# (title, Home Office code, weight, victim sex 'F'/'M'/'' , max victim age) for child sexual offences:
# the study's common titles first. Some titles do not match by title alone (no child word), as in the study.
CSA_TITLES = (
    ("Sexual assault on a female 13 or over", "20A", 22, "F", 17),
    ("Sexual assault on female child under 13", "20B", 12, "F", 12),
    ("Rape of female child under 13 by a male", "19E", 6, "F", 12),
    ("Distribute indec photo of child", "86", 6, "", 17),
    ("Cause/incite child prostitution or pornography 13-17", "71", 2, "", 17),
    ("Incite child commit gross indecency-girl", "22B", 2, "F", 15),
    ("Sexual assault on a male 13 or over", "17A", 6, "M", 17),
    ("Sexual assault on male child under 13", "17B", 5, "M", 12),
    ("Rape of a female aged under 16", "19D", 6, "F", 15),
    ("Rape of a female aged 16 or over", "19C", 2, "F", 17),
    ("Rape of male child under 13 by a male", "19H", 1.5, "M", 12),
    ("Rape of a male aged under 16", "19G", 1, "M", 15),
    ("Sexual activity with a female child under 16", "22B", 6, "F", 15),
    ("Sexual activity with a male child under 16", "22B", 2, "M", 15),
    ("Cause/incite female child under 13 to engage in sexual activity", "21", 2, "F", 12),
    ("Sexual activity involving a child under 13", "21", 2, "", 12),
    ("Sexual activity with a child family member", "23", 2, "", 17),
    ("Take/make/distribute indecent photographs of children", "86", 3, "", 17),
    ("Possession of an indecent or pseudo indecent photo of a child", "86", 3, "", 17),
    ("Engage in sexual communication with a child", "88A", 3, "", 15),
    ("Meeting a female child following sexual grooming", "88A", 1, "F", 15),
    ("Abuse of position of trust: sexual activity with a girl 13-17", "73", 1, "F", 17),
    ("Assault of a female child under 13 by penetration", "20B", 1.5, "F", 12),
    ("Assault on a female by penetration", "20A", 2, "F", 17),
    ("Exposure", "88E", 3, "", 17),
    ("Voyeurism", "88E", 1, "", 17),
    ("Causing a person to engage in sexual activity without consent", "22A", 1, "", 17),
)
# Sexual offences recorded against adults (rejected by the victim's age).
ADULT_SEX_TITLES = (
    ("Sexual assault on a female 13 or over", "20A", 30),
    ("Sexual assault on a male 13 or over", "17A", 6),
    ("Rape of a female aged 16 or over", "19C", 18),
    ("Rape of a male aged 16 or over", "19F", 2),
    ("Assault on a female by penetration", "20A", 4),
    ("Exposure", "88E", 12),
    ("Voyeurism", "88E", 4),
    ("Causing a person to engage in sexual activity without consent", "22A", 3),
    ("Administering a substance with intent", "88C", 1),
    ("Sexual activity with a person with a mental disorder", "70", 1),
)
# Other offences: real Home Office codes and titles (reference/home_office_offence_codes.csv).
OTHER_TITLES = (
    ("Assault with injury", "8N", 14), ("Assault without injury", "105A", 16), ("Harassment", "8L", 8),
    ("Malicious Communications", "8R", 7), ("Stalking", "8Q", 2), ("Shoplifting", "46", 10),
    ("Other theft", "49", 9), ("Theft from vehicle", "45", 4), ("Theft from the person", "39", 2),
    ("Burglary Residential", "28E", 6), ("Burglary Business and Community", "30C", 2),
    ("Criminal damage to a dwelling", "58A", 4), ("Criminal damage to a vehicle", "58C", 4),
    ("Robbery of personal property", "34B", 2), ("Possession of controlled drugs (Cannabis)", "92E", 3),
    ("Trafficking in controlled drugs", "92A", 2), ("Possession of article with blade or point", "10D", 2),
    ("Threats to kill", "3B", 1), ("Cruelty to children/young persons", "11A", 1), ("Child abduction", "13", 0.3),
    ("Kidnapping", "36", 0.3), ("Modern slavery", "106", 0.3), ("Exploitation of prostitution", "24", 0.2),
    ("Arson not endangering life", "56B", 1), ("Fraud by false representation: other frauds", "53D", 2),
)
FLAG_ONLY_TITLES = (("Child abduction", "13"), ("Kidnapping", "36"), ("Harassment", "8L"),
                    ("Malicious Communications", "8R"), ("Cruelty to children/young persons", "11A"),
                    ("Modern slavery", "106"))

# MO text. _MO_WORD texts each carry an MO word of method.md; _MO_PLAIN texts carry none (checked in tests).
MO_WORD = (
    "Suspect sexually assaulted victim at an address",
    "Offender groomed victim online before meeting in person",
    "Older male befriended victim and supplied alcohol",
    "Concern raised by school after victim disclosed abuse",
    "Victim reported missing; misper enquiries found her at an address with adults",
    "Victim disclosed rape to social worker",
    "Suspect sent sexual messages and requested images",
    "Child sexual exploitation: victim seen in vehicles with older men",
    "Victim found to be pregnant and named the suspect",
    "Referral from MASH regarding exploitation",
    "CSE risk assessment completed; victim given gifts and lifts",
    "Penetrative assault disclosed during ABE interview",
)
_MO_WORD_W = (30, 8, 6, 10, 4, 8, 12, 3, 1, 2, 3, 4)
MO_PLAIN = (
    "Suspect touched victim inappropriately at an address",
    "Victim disclosed to parent; suspect known to family",
    "Incident reported by third party; enquiries ongoing",
    "Suspect approached victim in park",
    "Images shared on social media platform",
    "Victim met suspect through friends",
)
MO_RING = (
    "Older male befriended victim and supplied alcohol",
    "Offender groomed victim online before meeting in person",
    "Child sexual exploitation: victim seen in vehicles with older men",
    "CSE risk assessment completed; victim given gifts and lifts",
    "Victim reported missing; misper enquiries found her at an address with adults",
)
MO_OTHER = (
    "Offender entered premises and stole property",
    "Victim assaulted outside licensed premises",
    "Vehicle damaged overnight",
    "Offender threatened victim in the street",
    "Items taken from shop without payment",
    "Dispute between neighbours escalated",
    "Offender sent abusive messages to victim",
    "Bag taken from victim on bus",
)
# Adult-victim other crimes only: innocent texts that still contain an MO word ("smashed" holds "mash").
MO_OTHER_ACCIDENTAL = ("Window smashed and property taken", "Concern for welfare raised by neighbour")

MO_WORDS = ("cse", "child sexual", "exploit", "misper", "sex", "groom", "mase", "mace", "mash", "rape", "raping",
            "pregnan", "older", "concern", "penetrat")
CHILD_WORDS = ("child", "girl", "boy", "u13", "under13", "u16", "under16", "13+", "13-17", "13-15", "16 or 17",
               "16-20", "16 or over", "16 years and over", "16+", "under18")
SEX_WORDS = ("sex", "rape", "buggery", "indec", "pornog", "exploit", "prostit", "photo", "penetration")
PROFILE_CODES = ("CAO", "PPC", "CSE")

# Offender roles as recorded (contract spellings), with their shares.
OFFENDER_ROLE_NAMES = ("offender", "suspect", "defendant", "person_thought_responsible", "person_probably_responsible")
_OFF_ROLE_W = (0.45, 0.35, 0.08, 0.06, 0.06)
ESTABLISHMENTS = ("HMP Birmingham", "HMP Hewell", "HMP Oakwood", "HMP Featherstone", "HMP Stafford",
                  "HMYOI Brinsford", "HMP Stoke Heath", "HMP Long Lartin", "HMP Drake Hall", "HMP Ranby")
FORENAMES_F = ("Amelia", "Olivia", "Isla", "Ava", "Mia", "Ella", "Grace", "Lily", "Sophie", "Chloe", "Aisha",
               "Zara", "Holly", "Megan", "Jade", "Leah")
FORENAMES_M = ("Oliver", "Jack", "Harry", "George", "Noah", "Charlie", "Jacob", "Thomas", "Mohammed", "Daniel",
               "Liam", "Ryan", "Connor", "Kyle", "Adam", "Lewis")
SURNAMES = ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel", "Robinson",
            "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Khan", "Lewis",
            "Clarke", "Jackson", "Wood", "Turner")

# person sex codes
_U, _M, _F = 0, 1, 2
_NO_DATE = np.iinfo(np.int64).min  # "no date" sentinel inside int day arrays

_CHUNK = 500_000  # rows per written batch

# crime kinds (planted truth)
K_SELECTED, K_UNDER10, K_ADULT, K_DA, K_NODOB, K_FLAGONLY, K_OTHER, K_RING, K_OVERLAP = range(9)
KIND_NAMES = ("selected", "under10_offender", "adult_victim", "domestic_abuse", "victim_no_dob",
              "flag_only_gap", "other_offence", "ring", "overlap_origin")
ROLE_NAMES = ("victim",) + OFFENDER_ROLE_NAMES + ("witness", "other")
R_VICTIM, R_WITNESS, R_OTHER = 0, 6, 7

IF_CODE_SETS = ("", "CSE", "CAO", "PPC", "CSE;PPC", "CAO;CSE", "DA", "HATE", "MISPER", "ASB", "DA;CAO", "DA;CSE",
                "MISPER;CSE", "ASB;HATE")
_IFC_SELECTED_W = (70, 7, 12, 4, 2, 1.5, 0, 0, 0, 0, 0, 0, 1.5, 0)
_IFC_OTHER_W = (80, 0, 0, 0, 0, 0, 0, 12, 2, 1, 5, 0, 0, 0)

