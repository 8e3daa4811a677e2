// The bridge's pure parts against outside oracles: prompts equal Jinja2's renders of the chat
// templates (tests/data/templates, made by make_goldens.py), the ChatML fallback equals Jinja2's
// render of a ChatML template, sampling frequencies follow softmax arithmetic, deltas are
// coalesced to <= 60 a second without losing text, and <think> tags split wherever a delta cuts.
#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <map>
#include <random>

#include "DeltaCoalescer.h"
#include "ErrorInfo.h"
#include "MemoryEstimate.h"
#include "ModelDescription.h"
#include "ModelFolder.h"
#include "PromptBuilder.h"
#include "Sampler.h"
#include "ThinkSplitter.h"

namespace {

QJsonObject readJson(const QString& path) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) return {};
  return QJsonDocument::fromJson(f.readAll()).object();
}

QList<ChatTurn> turnsOf(const QJsonArray& messages) {
  QList<ChatTurn> out;
  for (const QJsonValue& m : messages)
    out.append({m[QStringLiteral("role")].toString(), m[QStringLiteral("content")].toString()});
  return out;
}

// Golden cases a chat reply can produce: a generation prompt, no tools, no extra variables and
// messages with only a role and content.
QList<QJsonObject> replyCases(const QJsonObject& goldens) {
  QList<QJsonObject> out;
  for (const QJsonValue& v : goldens[QStringLiteral("cases")].toArray()) {
    const QJsonObject c = v.toObject();
    if (!c[QStringLiteral("add_generation_prompt")].toBool() || c.contains(QStringLiteral("tools")) ||
        c.contains(QStringLiteral("extra")) || c[QStringLiteral("messages")].toArray().isEmpty())
      continue;
    bool plain = true;
    for (const QJsonValue& m : c[QStringLiteral("messages")].toArray()) plain = plain && m.toObject().size() == 2;
    if (plain) out.append(c);
  }
  return out;
}

bool writeFile(const QString& path, const QByteArray& data) {
  QFile f(path);
  return f.open(QIODevice::WriteOnly) && f.write(data) == data.size();
}

}  // namespace

class TestBridgeParts : public QObject {
  Q_OBJECT

 private slots:
  // ---- PromptBuilder ----
  void promptMatchesJinjaForTheDemoModel() {
    const QJsonObject goldens = readJson(QStringLiteral(NIBBLE_TEST_DATA_DIR "/templates/dictlm.json"));
    const QList<QJsonObject> cases = replyCases(goldens);
    QVERIFY(cases.size() >= 3);
    PromptBuilder builder(NIBBLE_RESOURCES_DIR "/models/dictlm-16m");
    QVERIFY(builder.templateNote().isEmpty());
    for (const QJsonObject& c : cases) {
      const BuiltPrompt p = builder.build(turnsOf(c[QStringLiteral("messages")].toArray()), false);
      QCOMPARE(QString::fromStdString(p.text), c[QStringLiteral("expected")].toString());
      QVERIFY(p.fallbackNote.isEmpty());
    }
  }

  void promptMatchesJinjaForQwen3() {
    const QJsonObject goldens = readJson(QStringLiteral(NIBBLE_TEST_DATA_DIR "/templates/qwen3.json"));
    const QList<QJsonObject> cases = replyCases(goldens);
    QVERIFY(cases.size() >= 4);
    QTemporaryDir dir;
    const QJsonObject config{{QStringLiteral("chat_template"), goldens[QStringLiteral("template")]},
                             {QStringLiteral("eos_token"), cases.first()[QStringLiteral("eos_token")]}};
    QVERIFY(writeFile(dir.filePath(QStringLiteral("tokenizer_config.json")), QJsonDocument(config).toJson()));
    PromptBuilder builder(dir.path().toStdString());
    QVERIFY2(builder.templateNote().isEmpty(), qPrintable(builder.templateNote()));
    for (const QJsonObject& c : cases) {
      const BuiltPrompt p = builder.build(turnsOf(c[QStringLiteral("messages")].toArray()), false);
      QCOMPARE(QString::fromStdString(p.text), c[QStringLiteral("expected")].toString());
    }
  }

  // Without a template the prompt is ChatML; the demo model's template is ChatML, so Jinja2's
  // renders of it are the oracle.
  void fallsBackToChatMlWithoutTemplate() {
    QTemporaryDir dir;
    QVERIFY(writeFile(dir.filePath(QStringLiteral("tokenizer_config.json")), R"({"eos_token": "<|im_end|>"})"));
    PromptBuilder builder(dir.path().toStdString());
    QVERIFY(!builder.templateNote().isEmpty());
    const QJsonObject goldens = readJson(QStringLiteral(NIBBLE_TEST_DATA_DIR "/templates/dictlm.json"));
    for (const QJsonObject& c : replyCases(goldens)) {
      const BuiltPrompt p = builder.build(turnsOf(c[QStringLiteral("messages")].toArray()), false);
      QCOMPARE(QString::fromStdString(p.text), c[QStringLiteral("expected")].toString());
      QVERIFY(!p.fallbackNote.isEmpty());
    }
  }

  void fallsBackToChatMlWhenTheTemplateIsBroken() {
    QTemporaryDir dir;
    QVERIFY(writeFile(dir.filePath(QStringLiteral("chat_template.jinja")), "{% for m in messages %}{{ m.content "));
    PromptBuilder builder(dir.path().toStdString());
    QVERIFY(builder.templateNote().contains(QStringLiteral("ChatML")));
    const BuiltPrompt p = builder.build({{QStringLiteral("user"), QStringLiteral("Hello!")}}, false);
    QCOMPARE(QString::fromStdString(p.text), QStringLiteral("<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n"));
  }

  void failsAtRenderTimeFallBack() {
    QTemporaryDir dir;
    QVERIFY(writeFile(dir.filePath(QStringLiteral("chat_template.jinja")),
                      "{% if messages[0].role != 'user' %}{{ raise_exception('user first') }}{% endif %}x"));
    PromptBuilder builder(dir.path().toStdString());
    QVERIFY(builder.templateNote().isEmpty());
    const BuiltPrompt p = builder.build({{QStringLiteral("system"), QStringLiteral("S")}, {QStringLiteral("user"), QStringLiteral("U")}}, false);
    QVERIFY(p.fallbackNote.contains(QStringLiteral("user first")));
    QVERIFY(QString::fromStdString(p.text).startsWith(QStringLiteral("<|im_start|>system\nS<|im_end|>")));
  }

  // Continue: the prompt ends right after the partial assistant text (HF continue_final_message).
  void continuesTheLastAssistantMessage() {
    PromptBuilder builder(NIBBLE_RESOURCES_DIR "/models/dictlm-16m");
    const BuiltPrompt p = builder.build({{QStringLiteral("user"), QStringLiteral("Define kettle.")},
                                         {QStringLiteral("assistant"), QStringLiteral("A pot")}},
                                        true);
    QCOMPARE(QString::fromStdString(p.text),
             QStringLiteral("<|im_start|>user\nDefine kettle.<|im_end|>\n<|im_start|>assistant\nA pot"));
  }

  // ---- Sampler ----
  void greedyIsArgmaxWithLowestIdOnTies() {
    SamplerSettings s;
    s.temperature = 0;
    Sampler sampler(s);
    const std::vector<float> logits{0.5f, 2.0f, -1.0f, 2.0f};
    QCOMPARE(sampler.sample(logits, {}), 1);
  }

  void frequenciesFollowSoftmax() {
    // p = softmax(logits / T): with logits ln(0.5), ln(0.3), ln(0.2) and T = 2, p ∝ sqrt(.5, .3, .2).
    SamplerSettings s;
    s.temperature = 2.0;
    s.topP = 1.0;
    s.seed = 1234;
    Sampler sampler(s);
    const std::vector<float> logits{std::log(0.5f), std::log(0.3f), std::log(0.2f)};
    const double w[3] = {std::sqrt(0.5), std::sqrt(0.3), std::sqrt(0.2)};
    const double total = w[0] + w[1] + w[2];
    int counts[3] = {0, 0, 0};
    const int n = 40000;
    for (int i = 0; i < n; ++i) ++counts[sampler.sample(logits, {})];
    for (int k = 0; k < 3; ++k) {
      const double expected = w[k] / total;
      const double sigma = std::sqrt(expected * (1 - expected) / n);
      QVERIFY2(std::abs(counts[k] / double(n) - expected) < 5 * sigma,
               qPrintable(QStringLiteral("token %1: %2 vs %3").arg(k).arg(counts[k] / double(n)).arg(expected)));
    }
  }

  void truncationKeepsOnlyTheHead() {
    const std::vector<float> logits{std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
    auto seen = [&](SamplerSettings s) {
      s.temperature = 1.0;
      s.seed = 99;
      Sampler sampler(s);
      std::map<int, int> counts;
      for (int i = 0; i < 5000; ++i) ++counts[sampler.sample(logits, {})];
      return counts;
    };
    SamplerSettings k2;
    k2.topK = 2;
    auto c = seen(k2);
    QCOMPARE(int(c.size()), 2);
    QVERIFY(c.count(0) && c.count(1));
    SamplerSettings p;
    p.topP = 0.75;  // 0.5 + 0.3 reaches 0.75: two tokens
    c = seen(p);
    QCOMPARE(int(c.size()), 2);
    SamplerSettings p1;
    p1.topP = 0.4;  // the first token alone reaches it
    c = seen(p1);
    QCOMPARE(int(c.size()), 1);
    QCOMPARE(c.begin()->first, 0);
    SamplerSettings m;
    m.minP = 0.35;  // keeps p >= 0.175: tokens 0 and 1
    c = seen(m);
    QCOMPARE(int(c.size()), 2);
    SamplerSettings all;
    c = seen(all);
    QCOMPARE(int(c.size()), 4);
  }

  void repetitionPenaltyFollowsHf() {
    // HF: a seen token's logit is divided by the penalty when positive, multiplied when negative.
    SamplerSettings s;
    s.temperature = 0;
    s.repetitionPenalty = 1.2;
    Sampler sampler(s);
    const std::vector<float> up{2.0f, 1.9f};
    const std::vector<std::int32_t> recent{0, 0};
    QCOMPARE(sampler.sample(up, recent), 1);  // 2.0 / 1.2 < 1.9
    const std::vector<float> down{-1.0f, -1.1f};
    QCOMPARE(sampler.sample(down, std::vector<std::int32_t>{0}), 1);  // -1.2 < -1.1
    // Both seen: 1.8 / 1.2 = 1.5 < 2.0 / 1.2; only the last token in the window: 1.8 > 1.67.
    const std::vector<float> both{1.8f, 2.0f};
    QCOMPARE(sampler.sample(both, std::vector<std::int32_t>{0, 1}), 1);
    SamplerSettings w = s;
    w.repetitionWindow = 1;
    Sampler windowed(w);
    QCOMPARE(windowed.sample(both, std::vector<std::int32_t>{0, 1}), 0);
  }

  // A vocabulary large enough for the partial sorts: every draw equals the one a full sort of
  // the candidates gives (the definition written out below, with the same random stream).
  void partialSortingDrawsWhatAFullSortDraws() {
    const int vocab = 5000;
    std::mt19937 g(11);
    std::normal_distribution<float> normal(0.0f, 3.0f);
    struct Case {
      double t, topP, minP;
      int topK;
    } cases[] = {{0.8, 0.9, 0, 0}, {1.0, 0.95, 0.05, 0}, {0.7, 0.9, 0, 40}, {1.2, 1.0, 0.1, 0}, {0.6, 0.5, 0, 0}, {1.0, 0.99, 0, 0}};
    for (const Case& c : cases) {
      SamplerSettings s;
      s.temperature = c.t;
      s.topP = c.topP;
      s.minP = c.minP;
      s.topK = c.topK;
      s.seed = 77;
      Sampler sampler(s);
      std::mt19937_64 rng(77);
      std::vector<float> logits(vocab);
      for (int it = 0; it < 100; ++it) {
        for (float& x : logits) x = normal(g);
        const std::int32_t got = sampler.sample(logits, {});
        // Reference: all candidates sorted, then top-k, top-p, min-p, one draw.
        const float best = *std::max_element(logits.begin(), logits.end());
        std::vector<std::pair<float, std::int32_t>> cand;
        for (int i = 0; i < vocab; ++i)
          cand.push_back({static_cast<float>(std::exp((static_cast<double>(logits[i]) - best) / c.t)), i});
        std::sort(cand.begin(), cand.end(), [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
        std::size_t count = c.topK > 0 ? std::size_t(c.topK) : cand.size();
        double total = 0;
        for (std::size_t i = 0; i < count; ++i) total += cand[i].first;
        std::size_t kept = 0;
        double mass = 0;
        while (kept < count && (kept == 0 || c.topP >= 1.0 || mass < c.topP * total)) {
          if (c.minP > 0 && kept > 0 && cand[kept].first < c.minP) break;
          mass += cand[kept++].first;
        }
        std::uniform_real_distribution<double> uniform(0.0, mass);
        double u = uniform(rng);
        std::int32_t want = cand[kept - 1].second;
        for (std::size_t i = 0; i < kept; ++i) {
          u -= cand[i].first;
          if (u <= 0) {
            want = cand[i].second;
            break;
          }
        }
        QCOMPARE(got, want);
      }
    }
  }

  void aSeedRepeatsTheDraws() {
    SamplerSettings s;
    s.temperature = 1.0;
    s.seed = 7;
    std::vector<float> logits(64);
    for (int i = 0; i < 64; ++i) logits[i] = std::sin(float(i));
    Sampler a(s), b(s);
    for (int i = 0; i < 200; ++i) QCOMPARE(a.sample(logits, {}), b.sample(logits, {}));
  }

  // ---- DeltaCoalescer ----
  void coalescesToSixtyPerSecondWithoutLosingText() {
    DeltaCoalescer c(60);
    QString all, expected;
    int emitted = 0;
    for (qint64 ms = 0; ms < 2000; ++ms) {  // a token every millisecond for two seconds
      const QString piece = QString::number(ms % 10);
      expected += piece;
      if (c.push(piece, {}, ms)) {
        QString content, reasoning;
        c.take(ms, content, reasoning);
        all += content;
        ++emitted;
      }
    }
    QString content, reasoning;
    c.take(2000, content, reasoning);
    all += content;
    QCOMPARE(all, expected);
    QVERIFY2(emitted <= 2 * 60 + 1, qPrintable(QString::number(emitted)));
    QVERIFY(emitted >= 2 * 55);
  }

  void firstTextGoesOutAtOnce() {
    DeltaCoalescer c(60);
    QVERIFY(!c.push({}, {}, 0));
    QVERIFY(c.push(QStringLiteral("a"), {}, 5));
  }

  // ---- ThinkSplitter ----
  void splitsThinkTagsAtEveryCut() {
    const QString text = QStringLiteral("Sure.<think>weigh it</think>The answer<think>again</think>!");
    for (int cut1 = 0; cut1 <= text.size(); ++cut1) {
      for (int cut2 = cut1; cut2 <= text.size(); cut2 += 3) {
        ThinkSplitter s;
        QString content, reasoning;
        s.push(text.left(cut1), content, reasoning);
        s.push(text.mid(cut1, cut2 - cut1), content, reasoning);
        s.push(text.mid(cut2), content, reasoning);
        s.flush(content, reasoning);
        QCOMPARE(content, QStringLiteral("Sure.The answer!"));
        QCOMPARE(reasoning, QStringLiteral("weigh itagain"));
      }
    }
  }

  void promptOpenedThinking() {
    ThinkSplitter s(true);
    QString content, reasoning;
    s.push(QStringLiteral("hmm</thi"), content, reasoning);
    QVERIFY(s.inReasoning());
    s.push(QStringLiteral("nk>Yes <b"), content, reasoning);
    s.flush(content, reasoning);
    QCOMPARE(reasoning, QStringLiteral("hmm"));
    QCOMPARE(content, QStringLiteral("Yes <b"));
  }

  // ---- Folders, errors, estimates ----
  void modelFolderFromFileOrFolder() {
    const QString folder = QDir::cleanPath(QStringLiteral(NIBBLE_RESOURCES_DIR "/models/dictlm-16m"));
    QCOMPARE(modelFolderFor(folder), folder);
    QCOMPARE(modelFolderFor(folder + QStringLiteral("/config.json")), folder);
    QCOMPARE(modelFolderFor(QUrl::fromLocalFile(folder + QStringLiteral("/model.safetensors")).toString()), folder);
    QCOMPARE(modelNameFor(folder + QStringLiteral("/config.json")), QStringLiteral("dictlm-16m"));
  }

  // The device badge: one device by its name, several (a split model) by id with the CPU named.
  void deviceBadgeNamesEveryDeviceInUse() {
    const QVariantList devices = {
        QVariantMap{{QStringLiteral("id"), QStringLiteral("cuda:0")}, {QStringLiteral("name"), QStringLiteral("NVIDIA H100")}},
        QVariantMap{{QStringLiteral("id"), QStringLiteral("cuda:1")}, {QStringLiteral("name"), QStringLiteral("NVIDIA H100")}},
        QVariantMap{{QStringLiteral("id"), QStringLiteral("cpu")}, {QStringLiteral("name"), QStringLiteral("CPU")}}};
    QCOMPARE(devicesDisplayName(devices, {QStringLiteral("cuda:0")}), QStringLiteral("NVIDIA H100"));
    QCOMPARE(devicesDisplayName(devices, {QStringLiteral("cpu")}), QStringLiteral("CPU"));
    // Layer order puts the CPU's layers first; the badge lists GPUs first, as the device list does.
    QCOMPARE(devicesDisplayName(devices, {QStringLiteral("cpu"), QStringLiteral("cuda:0")}), QStringLiteral("cuda:0 + CPU"));
    QCOMPARE(devicesDisplayName(devices, {QStringLiteral("cpu"), QStringLiteral("cuda:1"), QStringLiteral("cuda:0")}),
             QStringLiteral("cuda:0 + cuda:1 + CPU"));
    QCOMPARE(devicesDisplayName(devices, {QStringLiteral("cuda:7"), QStringLiteral("cpu")}), QStringLiteral("CPU + cuda:7"));
  }

  void everyErrorKindHasTitleAndFix() {
    for (int k = ErrorKinds::Io; k <= ErrorKinds::Internal; ++k) {
      for (auto ctx : {ErrorInfo::Context::ModelLoad, ErrorInfo::Context::Generation, ErrorInfo::Context::History}) {
        const ErrorInfo e = ErrorInfo::make(static_cast<ErrorKinds::Kind>(k), QStringLiteral("m"), ctx);
        QVERIFY(!e.title.isEmpty());
        QVERIFY(!e.fix.isEmpty());
      }
    }
    const ErrorInfo oom = ErrorInfo::make(ErrorKinds::OutOfMemory, {}, ErrorInfo::Context::ModelLoad);
    QVERIFY(oom.fix.contains(QStringLiteral("context")) && oom.fix.contains(QStringLiteral("Q4")) && oom.fix.contains(QStringLiteral("CPU")));
    const ErrorInfo arch = ErrorInfo::make(ErrorKinds::Unsupported, {}, ErrorInfo::Context::ModelLoad);
    QVERIFY(arch.fix.contains(QStringLiteral("Qwen2ForCausalLM")));
  }

  // KV cache bytes: 2 (K and V) x layers x kv_heads x head_dim x tokens x element size.
  void kvCacheEstimateIsArithmetic() {
    ModelShape s;
    s.layers = 8;
    s.kvHeads = 2;
    s.headDim = 64;
    s.heads = 6;
    s.hidden = 384;
    s.intermediate = 1024;
    s.vocab = 4096;
    QCOMPARE(estimateMemory(s, true, CacheType::Fp16, 2048).kvCache, qint64(2) * 8 * 2 * 64 * 2048 * 2);
    QCOMPARE(estimateMemory(s, true, CacheType::Q4, 2048).kvCache, qint64(2) * 8 * 2 * 64 * 2048 / 2);
    QCOMPARE(estimateMemory(s, false, CacheType::Q4, 2000).kvCache, qint64(2) * 8 * 2 * 64 * 2048 * 4);
  }
};

QTEST_GUILESS_MAIN(TestBridgeParts)
#include "test_bridge_parts.moc"
