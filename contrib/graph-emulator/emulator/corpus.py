"""Text used to build message bodies, grouped by script.

Everything here was written for this emulator. The sentences are ordinary
workplace chat; what matters is that they cover several scripts (Latin with
diacritics, Cyrillic, Greek, Arabic, CJK, Hebrew), right-to-left text, HTML
entities and emoji (including ZWJ sequences, skin tones and flags), so that a
client's UTF-8 handling is exercised.
"""

LATIN = [
    "Morning all, the build is green again.",
    "Can someone review my pull request before lunch?",
    "I moved the sync to Thursday at 10:30.",
    "Thanks for the notes, very helpful.",
    "The customer confirmed the order, shipping next week.",
    "Who owns the onboarding checklist now?",
    "Running five minutes late, start without me.",
    "Budget figures are in the shared workbook, tab 3.",
    "Let's keep this thread for the release discussion.",
    "Great job on the demo yesterday!",
    "Is the VPN down for anyone else?",
    "Draft agenda attached, comments welcome.",
    "I'll pick this up after the stand-up.",
    "Quick reminder: timesheets are due Friday.",
    "We need sign-off from legal before we publish.",
    "The new hire starts on Monday; please say hello.",
    "Café meeting moved to the Zürich office — see you there.",
    "Señora Núñez asked for the revised quote by mañana.",
    "Déjà vu: the same bug came back after the rollback.",
    "Grüße aus Köln! Das Angebot ist unterwegs.",
    "Prices are 5 < 7 & 9 > 8, as discussed.",
]

CYRILLIC = [
    "Привет! Как продвигается отчёт?",
    "Созвонимся завтра в 10:00?",
    "Спасибо, всё получил.",
    "Документ обновлён, посмотрите, пожалуйста.",
    "Я на встрече, отвечу позже.",
    "Дякую за допомогу!",
    "Отличная работа, коллеги!",
]

GREEK = [
    "Καλημέρα σε όλους!",
    "Ευχαριστώ πολύ για τη βοήθεια.",
    "Η συνάντηση μετακινήθηκε στις τρεις.",
    "Μπορείς να ελέγξεις το αρχείο;",
    "Τα νέα στοιχεία είναι στον κοινόχρηστο φάκελο.",
]

ARABIC = [
    "صباح الخير للجميع",
    "شكراً جزيلاً على المساعدة",
    "هل يمكنك مراجعة الملف؟",
    "الاجتماع غداً الساعة العاشرة",
    "تم إرسال التقرير إلى الإدارة",
]

CJK = [
    "大家早上好！",
    "谢谢你的帮助。",
    "请查看一下这个文件。",
    "会议改到明天下午三点。",
    "お疲れ様です。",
    "資料を共有しました。確認をお願いします。",
    "了解しました！",
    "안녕하세요, 회의는 몇 시에 시작하나요?",
]

HEBREW = [
    "בוקר טוב לכולם!",
    "תודה רבה על העזרה.",
    "אפשר לבדוק את הקובץ?",
    "הפגישה נדחתה למחר.",
    "שלחתי את הדוח למנהלת.",
]

SCRIPTS = {
    "latin": LATIN,
    "cyrillic": CYRILLIC,
    "greek": GREEK,
    "arabic": ARABIC,
    "cjk": CJK,
    "hebrew": HEBREW,
}

EMOJI = [
    "😀", "👍", "🎉", "🚀", "☕", "✅", "🙏", "😂", "❤️", "🔥",
    "👍🏽", "👩‍💻", "👨‍👩‍👧", "🇺🇦", "🇯🇵", "🏳️‍🌈", "🤷‍♀️",
]

# Teams' own emoji markup (id, alt text, title).
TEAMS_EMOJI = [
    ("smile", "🙂", "Smile"),
    ("laugh", "😆", "Laugh"),
    ("heart", "❤️", "Heart"),
    ("yes", "👍", "Thumbs up"),
    ("coffee", "☕", "Coffee"),
]

CHANNEL_SUBJECTS = [
    "Release planning",
    "Weekly status",
    "Отчёт за квартал",
    "Αναφορά προόδου",
    "中期レビュー",
    "Incident 4711 follow-up",
    "Team offsite 🏖️",
]

CHAT_TOPICS = [
    "Project Falcon",
    "Lunch crew 🍜",
    "Проект «Север»",
    "Budget FY25",
]

REACTIONS = [
    ("like", "Like"),
    ("heart", "Heart"),
    ("laugh", "Laugh"),
    ("surprised", "Surprised"),
    ("😮", None),
    ("💯", None),
]

FILES = [
    ("Q3 Report.xlsx", "Shared Documents/Reports"),
    ("Roadmap 2025.pptx", "Shared Documents/Planning"),
    ("Договор №17.docx", "Shared Documents/Legal"),
    ("会議メモ.docx", "Shared Documents/Notes"),
]

APPS = [
    ("Contoso Build Bot", "bot"),
    ("Polly", "bot"),
    ("Workflows", "office365Connector"),
]
