// Test helpers for the UI tests: the application's object graph (AppGraph) on a scratch
// settings file and history database, the demo model loaded on the CPU backend, and waits for
// the chat's replies.
#pragma once

#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include <memory>

#include "AppGraph.h"

inline const QString kDemoModel = QStringLiteral(NIBBLE_RESOURCES_DIR "/models/dictlm-16m");

struct UiFixture {
  QTemporaryDir dir;
  std::unique_ptr<AppGraph> graph;

  explicit UiFixture(unsigned cpuThreads = 0) { open(cpuThreads); }

  void open(unsigned cpuThreads = 0) {
    AppGraph::Options o;
    o.settingsFile = dir.filePath(QStringLiteral("settings.ini"));
    o.historyPath = dir.filePath(QStringLiteral("history.db"));
    o.history.durableCommits = false;
    o.history.flushIntervalMs = 50;
    graph = std::make_unique<AppGraph>(o);
    graph->engine.setCpuThreads(cpuThreads);
  }
  // Tears the graph down as the application does when it quits.
  void close() { graph.reset(); }

  bool loadDemo(int context = 0) {
    QSignalSpy loaded(&graph->engine, &EngineController::modelLoaded);
    graph->app.openModel(kDemoModel, QStringLiteral("cpu"), context);
    return loaded.wait(60000) || loaded.count() > 0;
  }

  // Waits for the running reply to end; returns its status ("" on timeout).
  QString waitReply(int timeoutMs = 120000) {
    QSignalSpy finished(&graph->chat, &ChatController::replyFinished);
    if (!graph->chat.busy() && finished.isEmpty()) return QStringLiteral("not busy");
    if (!finished.wait(timeoutMs)) return {};
    (void)QTest::qWaitFor([&] { return !graph->chat.busy(); }, 5000);
    return finished.last().at(1).toString();
  }

  // Makes the replies greedy (the Precise preset) with `maxTokens`, as a saved user preset.
  void usePreset(int maxTokens, double temperature = 0.0) {
    graph->presets.save(QStringLiteral("Test"), {{QStringLiteral("temperature"), temperature},
                                                 {QStringLiteral("topK"), 0},
                                                 {QStringLiteral("repetitionPenalty"), 1.0},
                                                 {QStringLiteral("maxTokens"), maxTokens}});
    graph->chat.setPresetName(QStringLiteral("Test"));
  }
};
