// ScreenshotDirector: each state is a few real actions (the same calls the interface makes),
// then a delay for layout and animations, then QQuickWindow::grabWindow.
#include "ScreenshotDirector.h"

#include <functional>
#include <memory>

#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QDropEvent>
#include <QImage>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QMimeData>
#include <QUrl>
#include <QQuickItem>
#include <QQuickWindow>
#include <QTimer>

#include <memory>

#include "ChatController.h"
#include "ConversationListModel.h"
#include "EngineController.h"
#include "HistoryService.h"
#include "ModelInspector.h"
#include "PlacementModel.h"
#include "QuantizeWizard.h"

namespace {

const char* kAnswer =
    "There are two common ways, and they differ in whether the original list changes.\n\n"
    "## In place\n\n"
    "`list.reverse()` reverses the list itself and returns `None`:\n\n"
    "```python\nnumbers = [1, 2, 3, 4]\nnumbers.reverse()\nprint(numbers)  # [4, 3, 2, 1]\n```\n\n"
    "## As a new list\n\n"
    "A slice with a step of -1 leaves the original alone:\n\n"
    "```python\nreversed_numbers = numbers[::-1]\n```\n\n"
    "| Way | Changes the list | Returns |\n|---|---|---|\n"
    "| `reverse()` | yes | `None` |\n| `[::-1]` | no | a new list |\n| `reversed()` | no | an iterator |\n\n"
    "Use **`reversed()`** when you only need to loop backwards.";

const char* kReasoning =
    "The user asks how to reverse a list. I should show both the in-place method and slicing, "
    "and mention reversed() for iteration. A short table will make the difference clear.";

}  // namespace

QStringList ScreenshotDirector::states() {
  return {QStringLiteral("empty"),          QStringLiteral("conversation"),         QStringLiteral("model-card"),
          QStringLiteral("model-card-plan"), QStringLiteral("model-card-shared"),
          QStringLiteral("error"),          QStringLiteral("dashboard"),            QStringLiteral("server-settings"),
          QStringLiteral("quantize-source"), QStringLiteral("quantize-target"),    QStringLiteral("quantize-calibration"),
          QStringLiteral("quantize-output"), QStringLiteral("quantize-running"),   QStringLiteral("quantize-result")};
}

ScreenshotDirector::ScreenshotDirector(QQuickWindow* window, const Services& services, QString state, QString file,
                                       QString scratchDir, QObject* parent)
    : QObject(parent), m_window(window), m_s(services), m_state(std::move(state)), m_file(std::move(file)),
      m_scratchDir(std::move(scratchDir)) {}

void ScreenshotDirector::start() {
  auto begin = [this] {
    if (m_started) return;
    m_started = true;
    QTimer::singleShot(300, this, &ScreenshotDirector::stage);
  };
  if (m_s.engine->modelState() == EngineController::Loaded) return begin();
  connect(m_s.engine, &EngineController::modelLoaded, this, begin);
  connect(m_s.engine, &EngineController::loadFailed, this, [this] { fail(QStringLiteral("the model did not load")); });
  QTimer::singleShot(m_state.startsWith(QLatin1String("quantize")) ? 300000 : 60000, this,
                     [this] { fail(QStringLiteral("timed out")); });
}

void ScreenshotDirector::stage() {
  if (m_state == QLatin1String("empty")) return capture(800);
  if (m_state.startsWith(QLatin1String("quantize-"))) return stageQuantizer();
  if (m_state == QLatin1String("conversation")) return seedConversation();
  if (m_state == QLatin1String("model-card")) {
    connect(m_s.inspector, &ModelInspector::cardReady, this, [this] { capture(800); });
    dropFolder(m_s.engine->modelPath());
    return;
  }
  if (m_state == QLatin1String("model-card-plan")) {
    // The plan across two small simulated GPUs (named as such) and the CPU: each GPU gets room
    // for its scratch and two fifths of the demo model's weights and KV cache past the reserve
    // and runtime allowance, and the slider puts the first two layers on the CPU.
    connect(m_s.inspector, &ModelInspector::cardReady, this, [this] {
      PlacementModel* plan = m_s.inspector->placement();
      const QVariantMap host{{QStringLiteral("id"), QStringLiteral("cpu")}, {QStringLiteral("name"), QStringLiteral("CPU")},
                             {QStringLiteral("freeBytes"), qint64(16'000'000'000)}};
      plan->setDevices({QVariantMap{{QStringLiteral("id"), QStringLiteral("cuda:0")},
                                    {QStringLiteral("name"), QStringLiteral("Simulated GPU")},
                                    {QStringLiteral("freeBytes"), qint64(40'000'000'000)}},
                        host});
      const PlacementModel::Row whole = plan->rows().front();
      const qint64 room = whole.reserve + whole.scratch + (whole.weights + whole.kvCache) * 2 / 5;
      QVariantList devices;
      for (int i = 0; i < 2; ++i)
        devices.append(QVariantMap{{QStringLiteral("id"), QStringLiteral("cuda:%1").arg(i)},
                                   {QStringLiteral("name"), QStringLiteral("Simulated GPU %1").arg(i)},
                                   {QStringLiteral("freeBytes"), room}});
      devices.append(host);
      plan->setDevices(devices);
      plan->setCpuLayers(2);
      capture(800);
    });
    dropFolder(m_s.engine->modelPath());
    return;
  }
  if (m_state == QLatin1String("model-card-shared")) {
    // Every layer shared between two simulated GPUs (tensor parallelism), each with room for its
    // share and some to spare.
    connect(m_s.inspector, &ModelInspector::cardReady, this, [this] {
      PlacementModel* plan = m_s.inspector->placement();
      QVariantList devices;
      for (int i = 0; i < 2; ++i)
        devices.append(QVariantMap{{QStringLiteral("id"), QStringLiteral("cuda:%1").arg(i)},
                                   {QStringLiteral("name"), QStringLiteral("Simulated GPU %1").arg(i)},
                                   {QStringLiteral("freeBytes"), qint64(1'600'000'000)}});
      devices.append(QVariantMap{{QStringLiteral("id"), QStringLiteral("cpu")}, {QStringLiteral("name"), QStringLiteral("CPU")},
                                 {QStringLiteral("freeBytes"), qint64(16'000'000'000)}});
      plan->setDevices(devices);
      plan->setMode(QStringLiteral("shared"));
      capture(800);
    });
    dropFolder(m_s.engine->modelPath());
    return;
  }
  if (m_state == QLatin1String("server-settings")) {
    // The settings dialog with the local API server switched on (it starts on the demo model).
    QObject* dialog = m_window->findChild<QObject*>(QStringLiteral("settingsDialog"));
    QObject* controller = dialog ? dialog->property("appController").value<QObject*>() : nullptr;
    QObject* settings = controller ? controller->property("settings").value<QObject*>() : nullptr;
    if (!settings) return fail(QStringLiteral("no settings dialog"));
    settings->setProperty("serverEnabled", true);
    QTimer::singleShot(2500, this, [this, dialog] {
      QMetaObject::invokeMethod(dialog, "open");
      capture(800);
    });
    return;
  }
  if (m_state == QLatin1String("error")) {
    // The demo model's files under a config naming an architecture Nibble does not run, as a
    // user might drop a Mamba checkpoint.
    const QString dir = m_scratchDir + QStringLiteral("/mamba-130m");
    QDir().mkpath(dir);
    const QString demo = m_s.engine->modelPath();
    for (const QString& name : QDir(demo).entryList(QDir::Files))
      if (name != QLatin1String("config.json")) QFile::copy(demo + QLatin1Char('/') + name, dir + QLatin1Char('/') + name);
    QFile source(demo + QStringLiteral("/config.json"));
    QJsonObject config;
    if (source.open(QIODevice::ReadOnly)) config = QJsonDocument::fromJson(source.readAll()).object();
    config[QStringLiteral("architectures")] = QJsonArray{QStringLiteral("MambaForCausalLM")};
    config[QStringLiteral("model_type")] = QStringLiteral("mamba");
    config[QStringLiteral("hidden_act")] = QStringLiteral("gelu");
    QFile target(dir + QStringLiteral("/config.json"));
    if (target.open(QIODevice::WriteOnly)) target.write(QJsonDocument(config).toJson());
    target.close();
    connect(m_s.inspector, &ModelInspector::inspectFailed, this, [this] { capture(800); });
    m_s.inspector->inspect(dir);
    return;
  }
  if (m_state == QLatin1String("dashboard")) return stageDashboard();
  fail(QStringLiteral("unknown state '%1'").arg(m_state));
}

void ScreenshotDirector::stageDashboard() {
  // A few real replies fill the timeline; then, on the dashboard, longer replies run until the
  // page shows one in progress (its KV cache in use), and the window is captured then.
  static const char* const prompts[] = {"Define kettle.", "Define harbour.", "What is a lexicon?", "Define lantern."};
  constexpr int kShort = 4, kLongTries = 6;
  QString story;
  for (int i = 0; i < 40; ++i) story += QStringLiteral("The harbour lanterns glow over the boats at night. ");
  story += QStringLiteral("Tell me a long story about this harbour.");
  auto step = std::make_shared<int>(0);
  auto captured = std::make_shared<bool>(false);
  auto next = std::make_shared<std::function<void()>>();
  *next = [this, step, captured, story] {
    const int i = (*step)++;
    if (*captured || i >= kShort + kLongTries) return;
    if (!m_s.chat->send(i < kShort ? QString::fromUtf8(prompts[i]) : story))
      return fail(QStringLiteral("the chat refused a message"));
    if (i == kShort) m_window->setProperty("page", 2);
  };
  auto* watch = new QTimer(this);
  watch->setInterval(20);
  connect(watch, &QTimer::timeout, this, [this, watch, captured, step] {
    if (*step <= kShort) return;
    auto* page = m_window->findChild<QQuickItem*>(QStringLiteral("dashboardPage"));
    QObject* vm = page ? page->property("dashboard").value<QObject*>() : nullptr;
    if (vm && !*captured && vm->property("intervalMs").toInt() != 100) vm->setProperty("intervalMs", 100);
    const bool running = vm && vm->property("generating").toBool() && vm->property("kvFill").toDouble() > 0;
    if (running || *step >= kShort + kLongTries) {
      *captured = true;
      watch->stop();
      if (vm) vm->setProperty("intervalMs", 60000);  // hold the shown poll while the window settles
      capture(running ? 120 : 1500);
    }
  });
  watch->start();
  connect(m_s.chat, &ChatController::replyFinished, this, [next] { QTimer::singleShot(100, *next); });
  (*next)();
}

void ScreenshotDirector::seedConversation() {
  ConversationData c;
  c.title = QStringLiteral("Reversing a list in Python");
  m_s.history->createConversation(c, this, [this](qint64 id, const ErrorInfo& e) {
    if (e.isError()) return fail(e.message);
    MessageData user;
    user.role = QStringLiteral("user");
    user.content = QStringLiteral("How do I reverse a list in Python? Show me the code.");
    user.status = QStringLiteral("complete");
    m_s.history->addMessage(id, user, this, [this, id](qint64 userId, const ErrorInfo& e2) {
      if (e2.isError()) return fail(e2.message);
      MessageData first;
      first.parentId = userId;
      first.role = QStringLiteral("assistant");
      first.content = QStringLiteral("Use `numbers[::-1]`.");
      first.status = QStringLiteral("complete");
      first.modelId = m_s.engine->modelName();
      m_s.history->addMessage(id, first, this, [](qint64, const ErrorInfo&) {});
      MessageData answer = first;
      answer.content = QString::fromUtf8(kAnswer);
      answer.reasoning = QString::fromUtf8(kReasoning);
      answer.metrics.promptTokens = 31;
      answer.metrics.completionTokens = 214;
      answer.metrics.timeToFirstTokenMs = 42;
      answer.metrics.decodeTokensPerSecond = 118.4;
      m_s.history->addMessage(id, answer, this, [this, id](qint64, const ErrorInfo& e3) {
        if (e3.isError()) return fail(e3.message);
        connect(m_s.chat, &ChatController::conversationLoaded, this, [this] {
          // Delegates appear after the rows: open the reasoning once they are laid out.
          QTimer::singleShot(500, this, [this] {
            // List delegates are visual children only, so walk the item tree.
            QList<QQuickItem*> pending{m_window->contentItem()};
            while (!pending.isEmpty()) {
              QQuickItem* item = pending.takeLast();
              if (item->objectName() == QLatin1String("reasoningBlock")) item->setProperty("expanded", true);
              pending.append(item->childItems());
            }
            capture(700);
          });
        });
        m_s.conversations->refresh();
        m_s.chat->openConversation(id);
      });
    });
  });
}

void ScreenshotDirector::stageQuantizer() {
  QuantizeWizard* w = m_s.quantizer;
  if (!w) return fail(QStringLiteral("no quantization wizard"));
  // Small calibration so that the job runs in seconds on the demo model.
  w->setThreads(2);
  w->setEvaluation(4, 128);
  w->setActive(true);
  const QString step = m_state.mid(static_cast<int>(qstrlen("quantize-")));
  auto afterCheck = [this, w, step] {
    w->setRows(8);
    w->setLength(128);
    w->setMeasurementRows(2);
    w->setOutputPath(m_scratchDir + QStringLiteral("/dictlm-16m-exl2-4.00bpw"));
    if (step == QLatin1String("source")) return capture(800);
    w->setStep(QuantizeWizard::TargetStep);
    if (step == QLatin1String("target")) return capture(800);
    w->setStep(QuantizeWizard::CalibrationStep);
    if (step == QLatin1String("calibration")) return capture(800);
    w->setStep(QuantizeWizard::OutputStep);
    if (step == QLatin1String("output")) return capture(800);
    if (step == QLatin1String("running")) {
      auto conn = std::make_shared<QMetaObject::Connection>();
      *conn = connect(w, &QuantizeWizard::progressChanged, this, [this, w, conn] {
        const QVariantMap p = w->progress();
        if (p.value(QStringLiteral("stage")).toString() == QLatin1String("quantize") && p.value(QStringLiteral("layer")).toInt() >= 1) {
          disconnect(*conn);
          capture(300);  // quitting then cancels the job; its record stays resumable
        }
      });
    } else {
      connect(w, &QuantizeWizard::jobFinished, this, [this] { capture(800); });
    }
    connect(w, &QuantizeWizard::jobFailed, this, [this, w] {
      if (!w->cancelled()) fail(w->error().message);
    });
    w->setReuseMeasurement(false);
    w->start();
  };
  auto conn = std::make_shared<QMetaObject::Connection>();
  *conn = connect(w, &QuantizeWizard::sourceChanged, this, [w, conn, afterCheck] {
    if (w->sourceChecking()) return;
    disconnect(*conn);
    QTimer::singleShot(200, w, afterCheck);
  });
  w->setSource(m_s.engine->modelPath());
}

void ScreenshotDirector::dropFolder(const QString& folder) {
  // The events a file manager's drag produces over the middle of the window.
  QMimeData mime;
  mime.setUrls({QUrl::fromLocalFile(folder)});
  const QPointF at(m_window->width() / 2.0, m_window->height() / 2.0);
  QDragEnterEvent enter(at.toPoint(), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
  QCoreApplication::sendEvent(m_window, &enter);
  QDragMoveEvent move(at.toPoint(), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
  QCoreApplication::sendEvent(m_window, &move);
  QDropEvent drop(at, Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
  QCoreApplication::sendEvent(m_window, &drop);
}

void ScreenshotDirector::capture(int settleMs) {
  QTimer::singleShot(settleMs, this, [this] {
    const QImage image = m_window->grabWindow();
    if (image.isNull() || !image.save(m_file)) return fail(QStringLiteral("could not save %1").arg(m_file));
    QCoreApplication::exit(0);
  });
}

void ScreenshotDirector::fail(const QString& why) {
  qWarning("screenshot %s: %s", qPrintable(m_state), qPrintable(why));
  QCoreApplication::exit(1);
}
