"""A small Microsoft Graph emulator for the teamsfs test suite.

Modules:
  timeutil  - Graph timestamps (0-7 fractional digits) and a lenient parser
  errors    - Graph and Azure AD error bodies
  auth      - client-credentials token issuing and checking
  corpus    - text fragments used to build message bodies
  generate  - the deterministic sample tenant
  tenant    - the tenant model, --tenant-dir loading, --dump, --samples
  paging    - $filter, $top, skip tokens, page planning, next links
  server    - HTTP routing, Graph routes, control API, faults
  cli       - command line
"""

__version__ = "1.0"
