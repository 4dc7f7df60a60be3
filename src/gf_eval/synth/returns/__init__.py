"""The synthetic generator's raw returns: what an authority would hold before import.

From the generated extracts (with their internal columns), `write_returns` writes Children in
Need census XML files, SSDA903 CSVs, and MARAC, casework and survey workbooks carrying made-up
identifiers (`identities`): names, dates of birth, NHS numbers and UPNs of valid format, and
postcodes of real format. Importing and pseudonymising them gives back the same extracts, up to
the keys.
"""
