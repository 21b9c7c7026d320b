"""What the sample's tickets are about: ticket categories with their titles and priorities,
where user tickets come from, and outage notes (survey comments: `comments`)."""

from __future__ import annotations

from dataclasses import dataclass

# ---------------------------------------------------------------- ticket categories


@dataclass(frozen=True)
class Category:
    """A kind of ticket: its category, type, what it is about, how often, and its titles."""

    category: str
    subcategory: str
    type: str  # incident | request | alert | change
    asset: str  # "user" (the requester's computer), "" (none) or device kinds "SRV|NAS"
    weights: tuple[
        float, float, float
    ]  # relative weight among user / monitoring / maintenance tickets
    priority: str  # key of PRIORITY_MIX
    titles: tuple[str, ...]  # "{asset}" is replaced by the asset id
    onsite: bool = False  # can need an on-site visit


PRIORITY_MIX = {  # P1, P2, P3, P4
    "normal": (0.01, 0.12, 0.62, 0.25),
    "low": (0.0, 0.04, 0.40, 0.56),
    "high": (0.08, 0.34, 0.50, 0.08),
    "alert": (0.06, 0.22, 0.52, 0.20),
    "planned": (0.0, 0.02, 0.30, 0.68),
}

# fmt: off
CATEGORIES = (
    Category("Email", "Outlook", "incident", "user", (9, 0, 0), "normal",
             ("Outlook keeps asking for password", "Outlook not syncing new emails",
              "Outlook crashes on startup", "Calendar invites not showing in Outlook")),
    Category("Email", "Shared mailbox", "incident", "", (3, 0, 0), "normal",
             ("Can't open the shared mailbox", "Emails to info@ not arriving")),
    Category("Email", "Phishing", "incident", "", (3, 0, 0), "high",
             ("Suspicious email received, please check", "Clicked a link in a phishing email",
              "Vendor payment email looks fake")),
    Category("Email", "Mailbox", "request", "", (2, 0, 0), "low",
             ("Mailbox full warning", "Set up out-of-office for a departing colleague",
              "Add a distribution list for the front desk")),
    Category("Accounts", "Password reset", "incident", "", (8, 0, 0), "normal",
             ("Locked out of my account", "Password expired, can't log in",
              "Need a password reset")),
    Category("Accounts", "MFA", "incident", "", (3, 0, 0), "normal",
             ("MFA prompts not arriving on my new phone",
              "Authenticator app lost after phone upgrade")),
    Category("Accounts", "New starter", "request", "user", (4, 0, 0), "low",
             ("New starter setup - account and laptop", "Onboard new employee starting Monday")),
    Category("Accounts", "Leaver", "request", "", (2, 0, 0), "low",
             ("Disable account for leaver",
              "Leaver: forward email to manager and archive mailbox")),
    Category("Access", "Permissions", "request", "", (4, 0, 0), "low",
             ("Need access to the finance folder",
              "Please add me to the projects SharePoint site",
              "Access to the scanned documents share")),
    Category("Hardware", "Laptop", "incident", "user", (6, 0, 0), "normal",
             ("Laptop won't boot", "Laptop very slow since last week", "Laptop screen flickering",
              "Laptop battery not charging"),
             onsite=True),
    Category("Hardware", "Peripherals", "incident", "user", (4, 0, 0), "low",
             ("Second monitor not detected", "Docking station not working",
              "Keyboard and mouse not responding", "Headset microphone not working in Teams"),
             onsite=True),
    Category("Hardware", "Disk health", "alert", "user|NAS", (0, 3, 0), "alert",
             ("SMART disk warning on {asset}", "Disk predicted to fail on {asset}"), onsite=True),
    Category("Printing", "Printer", "incident", "PRN", (5, 0, 0), "normal",
             ("Printer offline", "Paper jam error that won't clear", "Can't print to {asset}",
              "Printer printing blank pages"),
             onsite=True),
    Category("Printing", "Scanner", "incident", "PRN", (2, 0, 0), "normal",
             ("Scan to email not working", "Scanner sends empty PDFs")),
    Category("Network", "Wi-Fi", "incident", "AP", (3, 0, 0), "normal",
             ("Wi-Fi keeps dropping in the conference room", "Guest Wi-Fi not working"),
             onsite=True),
    Category("Network", "VPN", "incident", "user", (3, 0, 0), "normal",
             ("VPN won't connect from home", "VPN connects but can't reach the file share")),
    Category("Network", "Internet", "incident", "FW", (2, 0, 0), "high",
             ("Internet very slow in the office", "No internet in the office")),
    Category("Network", "WAN link", "alert", "FW", (0, 2, 0), "high",
             ("WAN link down at main office ({asset})",
              "Packet loss on primary internet link ({asset})")),
    Category("Network", "Switch", "alert", "SW", (0, 2, 0), "alert",
             ("Switch port flapping on {asset}", "{asset} high error rate on uplink")),
    Category("Software", "Line-of-business app", "incident", "", (5, 0, 0), "normal",
             ("{lob} shows an error when saving", "Can't log in to {lob}",
              "{lob} very slow this morning")),
    Category("Software", "Microsoft 365", "incident", "user", (6, 0, 0), "normal",
             ("Teams calls keep dropping", "OneDrive not syncing",
              "Excel crashes opening the shared workbook", "Word documents open read-only")),
    Category("Software", "Install request", "request", "user", (4, 0, 0), "low",
             ("Please install Adobe Acrobat Pro", "Request to install Zoom",
              "Need the latest version of {lob}")),
    Category("Files", "Shared drive", "incident", "NAS|SRV", (3, 0, 0), "normal",
             ("Can't access the shared drive", "Shared drive mapped as disconnected")),
    Category("Files", "Restore", "request", "NAS|SRV", (2, 0, 0), "normal",
             ("Restore a deleted folder from backup",
              "Need yesterday's version of a spreadsheet restored")),
    Category("Security", "Antivirus", "alert", "user", (1, 3, 0), "alert",
             ("Threat detected and quarantined on {asset}",
              "Antivirus definitions out of date on {asset}")),
    Category("Phones", "Voice", "incident", "", (2, 0, 0), "normal",
             ("Desk phone has no dial tone", "Voicemail not forwarding to email",
              "Calls dropping after a minute")),
    Category("Monitoring", "Disk space", "alert", "SRV|NAS|user", (0, 5, 0), "alert",
             ("Low disk space on {asset}", "C: drive above 90% on {asset}")),
    Category("Monitoring", "Server offline", "alert", "SRV|NAS", (0, 2, 0), "high",
             ("{asset} not responding to ping", "{asset} unexpectedly restarted")),
    Category("Monitoring", "Performance", "alert", "SRV", (0, 2, 0), "alert",
             ("High CPU on {asset}", "Memory above 95% on {asset}")),
    Category("Monitoring", "Certificate", "alert", "FW", (0, 1, 0), "low",
             ("SSL certificate expiring in 14 days", "VPN certificate expiring soon on {asset}")),
    Category("Backup", "Backup failed", "alert", "SRV|NAS", (0, 4, 0), "alert",
             ("Backup job failed on {asset}", "Cloud backup did not complete for {asset}")),
    Category("Maintenance", "Patching", "change", "user|SRV", (0, 0, 5), "planned",
             ("Monthly patching: reboot pending on {asset}", "Patch install failed on {asset}")),
    Category("Maintenance", "Firmware", "change", "FW|SW|AP", (0, 0, 2), "planned",
             ("Firmware update for {asset}", "Scheduled firmware upgrade on {asset}")),
    Category("Maintenance", "Backup test", "change", "NAS|SRV", (0, 0, 1), "planned",
             ("Quarterly backup restore test", "Verify backup restore for {asset}")),
    Category("Maintenance", "Licensing", "change", "", (0, 0, 1), "planned",
             ("License renewal due for antivirus", "Microsoft 365 license count review")),
)
# fmt: on

USER_SOURCES = ("phone", "email", "portal", "chat", "onsite")
USER_SOURCE_MIX = (0.30, 0.36, 0.22, 0.09, 0.03)


# ---------------------------------------------------------------- outage notes

OUTAGE_DESCRIPTIONS = {
    "email": (
        "Microsoft 365 mail flow delayed",
        "Exchange Online outage",
        "Mail relay rejecting messages",
    ),
    "internet": (
        "ISP fibre cut",
        "Primary internet link down, failover slow",
        "ISP routing problem",
    ),
    "VoIP": ("SIP trunk registration lost", "Hosted phone system outage"),
    "file server": ("File server unresponsive", "Storage volume offline"),
    "default": ("{service} unavailable", "{service} server crashed", "{service} database locked"),
}
