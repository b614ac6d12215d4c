"""A small Microsoft Graph emulator for the teamsfs test suite.

Modules:
  timeutil  - Graph timestamps (0-7 fractional digits) and a lenient parser
  errors    - Graph and Azure AD error bodies
  auth      - client-credentials token issuing and checking
  corpus    - text fragments used to build message bodies
  generate  - the deterministic sample tenant
  attachgen - attachments of every kind for the generated tenant
  tenant    - the tenant model, --tenant-dir loading, --dump, --samples
  media     - files (reference attachments) and hosted contents
  blobs     - deterministic file bytes, streamed; tiny PNGs; code snippets
  live      - live add, edit and delete of messages
  paging    - $filter, $top, skip tokens, page planning, next links
  routing   - path segments and message keys
  settings  - runtime settings, skip-token ages
  faults    - injected faults
  httpbase  - HTTP plumbing shared by the two origins
  server    - the Graph origin: token endpoint, Graph routes
  media_routes - shares and hostedContents routes
  directory - chats and channels (names behind the ids): generated, derived
  directory_routes - users/{id}/chats and teams/{id}/allChannels routes
  downloads - the download origin (pre-authenticated file URLs, Range)
  control   - the /_emulator control API
  cli       - command line
"""

__version__ = "2.0"
