#!/usr/bin/env python3
"""Writes tests/xtts_parity/corpus/<lang>.txt: the sentences the XTTS text parity test sends through
upstream's cleaner and gpufleet's. Each language gets the same battery of numbers (cardinals across every
scale word, grouping marks, decimals, currencies before and after the amount, ordinal suffixes, percent,
degrees) set in a sentence of that language, its abbreviations as upstream lists them, and its symbols.
Run it again after adding a case; the corpus files are committed so that a change in them shows in review."""
import pathlib

FRAMES = {
    "en": "We counted {} today.",
    "es": "Contamos {} hoy.",
    "fr": "Nous avons compté {} aujourd'hui.",
    "de": "Wir zählten heute {} Stück.",
    "pt": "Contamos {} hoje.",
    "it": "Abbiamo contato {} oggi.",
    "pl": "Policzyliśmy dziś {} sztuk.",
    "ar": "عددنا {} اليوم.",
    "cs": "Dnes jsme napočítali {} kusů.",
    "ru": "Сегодня мы насчитали {} штук.",
    "nl": "We telden vandaag {} stuks.",
    "tr": "Bugün {} tane saydık.",
    "hu": "Ma {} darabot számoltunk.",
    "hi": "आज हमने {} गिने।",
    "ko": "오늘 {} 개를 세었습니다.",
}

NUMBERS = [
    "0", "1", "7", "13", "16", "21", "31", "44", "71", "80", "81", "91", "99", "100", "101", "115", "180", "200",
    "201", "500", "999", "1000", "1001", "1100", "1999", "2024", "1200", "1234", "10000", "21000", "123123", "2000001500", "33", "23,5", "0,05", "0.00001", "100000", "1000000",
    "2000000", "21000000", "1000000000", "2000000000", "1002", "1010", "100100", "1001001", "10000001", "123000789", "100000000000000000000", "123456789012345678", "3000", "11000", "123456789", "1000000000000", "007", "9" * 30,
    "1,000", "1.000", "12,5", "12.5", "3,14159", "0.5", "100.000,5", "100,000.5", "1.2.3", "2.50", "3,14", "12.01", "12.11", "3.21", "1000000,0", "12345678.0", "2001", "2000",
    "$20", "$1", "$1.01", "$21.21", "$1000000", "£2000000", "2000000€", "1$", "£3.50", "£1", "£21", "£200", "$.5", "£1,5", "20€", "20,15€", "€1", "€101,50", "1.000.000€",
    "50%", "30°", "#1", "A&B", "x@y",
]

ORDINALS = {
    "en": ["1st", "2nd", "3rd", "4th", "21st", "101st", "1000th"],
    "es": ["1º", "2ª", "3er", "5o", "11o", "21o", "100o", "1000o", "2os", "999999999999999o", "99999999999999998a"],
    "fr": ["1er", "2e", "3ème", "1re", "21e", "80e", "100e"],
    "de": ["1. Mai", "3. Mal", "21. Mal", "100. Mal", "1000. Mal", "2. ", "21st"],
    "pt": ["1º", "2ª", "3o", "21o", "1000º", "2000001500º"],
    "it": ["1º", "2°", "3ª", "4o", "23º", "26º", "1000º", "2000º"],
    "pl": ["1º", "2st", "21º", "101º", "1000º", "2000º", "1000000º", "123456º"],
    "ar": ["1ر", "3ث", "0ر", "21ر", "100ث", "2000ى", "1002ون", "20ين"],
    "cs": ["3. května", "1. "],
    "ru": ["1-й", "2-я", "3-е", "5-го", "21-й", "40-й", "100-й", "300-й", "1000-й", "2000-й", "21000-й", "101000-й", "1000000-й", "123456-й"],
    "nl": ["1ste", "2de", "3e", "8ste"],
    "tr": ["1. sırada", "3inci", "4üncü", "10. sırada", "20. sırada", "100. sırada", "101. sırada", "110. sırada", "1000. sırada", "1001. sırada", "2000. sırada", "12000. sırada", "100000. sırada", "123456. sırada", "1000000. sırada", "2001000. sırada", "3.5 kez"],
    "hu": ["1. helyen", "2odik", "5ödik", "20. helyen", "1000. helyen", "2000000. helyen"],
    "hi": ["1st"],
    # Native-Korean ordinals are rebuilt from the cardinal's last words; 0, 100, 1000, 1010 and 10000 have
    # none (a KeyError upstream).
    "ko": ["1번째", "2번째", "3번", "4차", "5째", "10번째", "11번째", "20번째", "21번째", "25번", "39번째",
           "99번째", "100번째", "101번째", "110번째", "111번째", "120번째", "1000번째", "1010번째", "1011번째",
           "1234번째", "10000번째", "12345번째", "20000번째", "100000001번째", "0번째", "1 번째"],
}

ABBREVIATIONS = {
    "en": ["Mrs", "Mr", "Dr", "St", "Co", "Jr", "Maj", "Gen", "Drs", "Rev", "Lt", "Hon", "Sgt", "Capt", "Esq", "Ltd",
           "Col", "Ft"],
    "es": ["Sra", "Sr", "Dr", "Dra", "St", "Co", "Jr", "Ltd"],
    "fr": ["Mme", "Mr", "Dr", "St", "Co", "Jr", "Ltd"],
    "de": ["Fr", "Dr", "St", "Co", "Jr"],
    "pt": ["Sra", "Sr", "Dr", "Dra", "St", "Co", "Jr", "Ltd"],
    "it": ["Sig", "Dr", "St", "Co", "Jr", "Ltd"],
    "pl": ["P", "M", "Dr", "Sw", "Jr"],
    "ar": [],
    "cs": ["Dr", "Ing", "P"],
    "ru": ["г-жа", "г-н", "д-р"],
    "nl": ["Dhr", "Mevr", "Dr", "Jhr"],
    "tr": ["B", "Byk", "Dr"],
    "hu": ["Dr", "B", "Nőv"],
    "hi": [],
    "ko": ["Dr", "St"],
}

SENTENCES = {
    "en": ["Hello there, \"friend\"!", "Salt & pepper @ 5 o'clock, #3 at 40% off."],
    # A combining mark straight before a number: not \w to Python, so "\b" holds before the digits.
    "es": ["¿Dónde está la estación?", "Sal & pimienta, 30 % de descuento.", "Un cafe\u03011.000 veces."],
    "fr": ["Bonjour\u202f! Ça va ?", "Sel & poivre, 30 % de remise, 5 °C."],
    "de": ["Grüße AUS Köln!", "Salz & Pfeffer, 30 % Rabatt."],
    "pt": ["Olá, tudo bem?", "Sal & pimenta, 30% de desconto."],
    "it": ["Buongiorno a tutti.", "Sale & pepe, sconto del 30%."],
    "pl": ["Dzień dobry!", "Sól & pieprz, 30% zniżki."],
    "ar": ["مرحبا بكم.", "ملح & فلفل، خصم 30%."],
    "cs": ["Dobrý den!", "Sůl & pepř, sleva 30 %."],
    "ru": ["ПРИВЕТ, мир!", "Соль & перец, скидка 30%."],
    "nl": ["Goedemorgen allemaal.", "Zout & peper, 30% korting."],
    "tr": ["İSTANBUL'a ÖĞLEDEN sonra ÜÇ kişi geldi.", "Tuz & biber, %30 indirim."],
    "hu": ["Jó napot kívánok!", "Só & bors, 30% kedvezmény."],
    "hi": ["नमस्ते दुनिया।", "नमक & मिर्च, 30% छूट।"],
    # Romanisation: hyphens before a silent ㅇ and between letters that could be read two ways (값이, 밖까지),
    # jamo and Latin letters kept, numbers stuck to their counter word (no \b after the digits).
    "ko": ["안녕하세요, 반갑습니다!", "소금 & 후추, 30% 할인.", "물엿을 샀어요.", "값이 밖까지 올랐다.",
           "ㅋㅋㅋ 정말? OK, KTX 타자.", "50명의 병사가 있었다.", "사과 3개와 배 12개.", "배터리 잔량이 14%입니다.",
           "12.5 초 안에.", "1,000원입니다.", "신라 시대의 국립 박물관.", "\"따옴표\" 안의 글."],
}


def main():
    out = pathlib.Path(__file__).resolve().parent / "corpus"
    out.mkdir(exist_ok=True)
    for lang, frame in FRAMES.items():
        lines = list(SENTENCES[lang])
        lines += [frame.format(n) for n in NUMBERS + ORDINALS[lang]]
        lines += [f"{a}. Novak {frame.format('')}" for a in ABBREVIATIONS[lang]]
        (out / f"{lang}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
