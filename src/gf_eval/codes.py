"""Code lists of the extracts (see CONVENTIONS.md and docs/data_dictionary.md).

The lowest layer of the package: both the synthetic generator and the schemas read these lists,
so the data that is generated and the data that is accepted can never drift apart.
"""

from __future__ import annotations

# --- Children in Need census (DfE) -------------------------------------------------------------

REFERRAL_SOURCES: dict[str, str] = {
    "1A": "Individual: family member, relative or carer",
    "1B": "Individual: acquaintance",
    "1C": "Individual: self",
    "1D": "Individual: other",
    "2A": "Schools",
    "2B": "Education services",
    "3A": "Health: GP",
    "3B": "Health: health visitor",
    "3C": "Health: school nurse",
    "3D": "Health: other primary health services",
    "3E": "Health: A&E",
    "3F": "Health: other",
    "4": "Housing",
    "5A": "LA services: social care",
    "5B": "LA services: other internal",
    "5C": "LA services: external",
    "5D": "LA services: early help",
    "6": "Police",
    "7": "Other legal agency",
    "8": "Other",
    "9": "Anonymous",
    "10": "Unknown",
}

PRIMARY_NEEDS: dict[str, str] = {
    "N0": "Not stated",
    "N1": "Abuse or neglect",
    "N2": "Child's disability or illness",
    "N3": "Parental disability or illness",
    "N4": "Family in acute stress",
    "N5": "Family dysfunction",
    "N6": "Socially unacceptable behaviour",
    "N7": "Low income",
    "N8": "Absent parenting",
    "N9": "Cases other than children in need",
}

# RC9 was introduced after the study period and is deliberately absent.
CLOSURE_REASONS: dict[str, str] = {
    "RC1": "Adopted",
    "RC2": "Died",
    "RC3": "Child arrangements order",
    "RC4": "Special guardianship order",
    "RC5": "Transferred to another local authority",
    "RC6": "Transferred to adult social care",
    "RC7": "Services ceased for any other reason",
    "RC8": "Case closed after assessment, no further action",
}

CP_CATEGORIES: dict[str, str] = {
    "NEG": "Neglect",
    "PHY": "Physical abuse",
    "SAB": "Sexual abuse",
    "EMO": "Emotional abuse",
    "MUL": "Multiple categories",
}

FACTORS: dict[str, str] = {
    "1A": "Alcohol misuse: child",
    "1B": "Alcohol misuse: parent or carer",
    "1C": "Alcohol misuse: another person in the household",
    "2A": "Drug misuse: child",
    "2B": "Drug misuse: parent or carer",
    "2C": "Drug misuse: another person in the household",
    "3A": "Domestic violence: child is the subject",
    "3B": "Domestic violence: parent or carer is the subject",
    "3C": "Domestic violence: another person in the household is the subject",
    "4A": "Mental health: child",
    "4B": "Mental health: parent or carer",
    "4C": "Mental health: another person in the household",
    "5A": "Learning disability: child",
    "5B": "Learning disability: parent or carer",
    "5C": "Learning disability: another person in the household",
    "6A": "Physical disability or illness: child",
    "6B": "Physical disability or illness: parent or carer",
    "6C": "Physical disability or illness: another person in the household",
    "7A": "Young carer",
    "8B": "Privately fostered: overseas child, parents intend to return",
    "8C": "Privately fostered: overseas child, parents' intentions unclear",
    "8D": "Privately fostered: UK child in education",
    "8E": "Privately fostered: UK child, parents cannot care",
    "8F": "Privately fostered: other",
    "9A": "Unaccompanied asylum-seeking child",
    "10A": "Going missing",
    "11A": "Child sexual exploitation",
    "12A": "Trafficking",
    "13A": "Gangs",
    "14A": "Socially unacceptable behaviour",
    "15A": "Self-harm",
    "16A": "Neglect",
    "17A": "Emotional abuse",
    "18A": "Physical abuse",
    "19A": "Sexual abuse",
    "20": "Other",
    "21": "No factors identified",
    "22A": "Female genital mutilation",
    "23A": "Abuse linked to faith or belief",
}
# The CIN census collected factors at the end of assessment from this date only.
FACTORS_COLLECTED_FROM = "2013-04-01"
# "DVA is a factor" means any of these; referral-source codes 3A-3F are a different list.
DVA_FACTORS: tuple[str, ...] = ("3A", "3B", "3C")
NO_FACTORS = "21"

CHILD_GENDERS: dict[str, str] = {
    "0": "Not known",
    "1": "Male",
    "2": "Female",
    "9": "Indeterminate",
}

ETHNICITIES: dict[str, str] = {
    "WBRI": "White British",
    "WIRI": "White Irish",
    "WIRT": "Traveller of Irish heritage",
    "WOTH": "Any other White background",
    "WROM": "Gypsy/Roma",
    "MWBC": "White and Black Caribbean",
    "MWBA": "White and Black African",
    "MWAS": "White and Asian",
    "MOTH": "Any other mixed background",
    "AIND": "Indian",
    "APKN": "Pakistani",
    "ABAN": "Bangladeshi",
    "AOTH": "Any other Asian background",
    "BCRB": "Black Caribbean",
    "BAFR": "Black African",
    "BOTH": "Any other Black background",
    "CHNE": "Chinese",
    "OOTH": "Any other ethnic group",
    "REFU": "Refused",
    "NOBT": "Information not yet obtained",
}

# --- MARAC -------------------------------------------------------------------------------------

MARAC_ROUTES: dict[str, str] = {
    "visible_high_risk": "DASH score of 14 or more",
    "professional_judgement": "Professional judgement",
    "potential_escalation": "Potential escalation (commonly 3 or more incidents in 12 months)",
    "repeat": "Repeat: referred again within 12 months of the last referral",
}
DASH_MAX = 24
DASH_HIGH_RISK = 14

MARAC_AGENCIES: dict[str, str] = {
    "police": "Police",
    "idva": "Independent domestic violence adviser service",
    "health": "Health",
    "childrens_social_care": "Children's social care",
    "adult_social_care": "Adult social care",
    "probation": "Probation",
    "housing": "Housing",
    "mental_health": "Mental health services",
    "substance_misuse": "Drug and alcohol services",
    "education": "Education",
    "voluntary_sector": "Voluntary sector",
    "other": "Other",
}

SEXES: dict[str, str] = {"F": "Female", "M": "Male", "U": "Unknown or not recorded"}

AGE_BANDS: tuple[str, ...] = ("16-17", "18-24", "25-34", "35-44", "45-54", "55+")

# Broad ethnic groups, as SafeLives MARAC returns record them.
ETHNIC_GROUPS: dict[str, str] = {
    "white": "White",
    "mixed": "Mixed or multiple ethnic groups",
    "asian": "Asian or Asian British",
    "black": "Black, African, Caribbean or Black British",
    "other": "Other ethnic group",
}

YES_NO: tuple[str, ...] = ("Y", "N")

# --- Casework books (the project's own design) -------------------------------------------------

CASEWORK_ROUTES: dict[str, str] = {
    "marac": "MARAC",
    "social_care": "Children's social care",
    "police": "Police",
    "early_help": "Early help",
    "health": "Health",
    "self": "Self-referral",
    "other": "Other",
}

CASEWORK_CLOSURES: dict[str, str] = {
    "planned_completion": "Work completed as planned",
    "disengaged": "Family disengaged",
    "moved_area": "Family moved out of the area",
    "escalated": "Escalated to statutory social care",
    "other": "Other",
}

# Outcome measures at allocation and at closure: name -> (low, high, better, reliability).
# Reliabilities feed the Jacobson-Truax reliable change index: SWEMWBS 0.84 and SDQ total 0.80
# are published internal consistencies; DASH 0.80 and the single safety item 0.70 are the
# project's documented assumptions (no published test-retest figure).
CASEWORK_MEASURES: dict[str, tuple[int, int, str, float]] = {
    "dash": (0, DASH_MAX, "lower", 0.80),
    "swemwbs": (7, 35, "higher", 0.84),
    "safety": (1, 10, "higher", 0.70),
    "sdq": (0, 40, "lower", 0.80),
}

# --- Professionals' e-survey (the project's own design) ----------------------------------------

SURVEY_WAVES: tuple[str, ...] = ("baseline", "follow_up")

SURVEY_AGENCIES: dict[str, str] = {
    "police": "Police",
    "health": "Health",
    "education": "Schools and education",
    "childrens_social_care": "Children's social care",
    "early_help": "Early help",
    "adult_services": "Adult social care and mental health",
    "housing": "Housing",
    "probation": "Probation",
    "voluntary_sector": "Voluntary and community sector",
    "other": "Other",
}

SURVEY_ROLES: dict[str, str] = {
    "practitioner": "Front-line practitioner",
    "manager": "Team leader or manager",
    "strategic": "Strategic lead",
    "other": "Other",
}

# Item -> (scale, wording). Responses 1 strongly disagree ... 5 strongly agree.
SURVEY_ITEMS: dict[str, tuple[str, str]] = {
    "q01": ("confidence", "I am confident identifying domestic abuse in the families I work with."),
    "q02": ("confidence", "I know what to do when a family discloses domestic abuse."),
    "q03": ("confidence", "I am confident talking to a perpetrator about their behaviour."),
    "q04": ("confidence", "I am confident assessing the impact of domestic abuse on children."),
    "q05": ("confidence", "I know where to refer a family affected by domestic abuse."),
    "q06": ("partnership", "Agencies in Doncaster share information on domestic abuse well."),
    "q07": ("partnership", "Services for families affected by domestic abuse are joined up."),
    "q08": ("partnership", "Whole-family support is available when a family needs it."),
}
LIKERT_MIN, LIKERT_MAX = 1, 5
