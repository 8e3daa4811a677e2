// The chat as the interface drives it: ChatController, the conversation list, the model library
// and the presets over the real bridge (demo model, CPU backend, scratch history), every item
// model under QAbstractItemModelTester. Replies are checked against transformers' greedy text
// (tests/data/refs) and against what the history database holds.
#include <QAbstractItemModelTester>
#include <QApplication>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

#include "MessageBlocks.h"
#include "UiFixture.h"

namespace {

struct Testers {
  explicit Testers(AppGraph& g)
      : messages(g.chat.messages(), QAbstractItemModelTester::FailureReportingMode::QtTest),
        conversations(&g.conversations, QAbstractItemModelTester::FailureReportingMode::QtTest),
        library(&g.library, QAbstractItemModelTester::FailureReportingMode::QtTest),
        presets(&g.presets, QAbstractItemModelTester::FailureReportingMode::QtTest) {}
  QAbstractItemModelTester messages, conversations, library, presets;
};

const QString kSystem = QStringLiteral("You are a helpful dictionary assistant.");
const QString kHarbor = QStringLiteral("What does \"harbor\" mean?");

// transformers' greedy reply to kHarbor with kSystem, up to the end of turn.
QString harborReference() {
  QFile f(QStringLiteral(NIBBLE_TEST_DATA_DIR "/refs/dictlm-16m/greedy.json"));
  if (!f.open(QIODevice::ReadOnly)) return {};
  for (const QJsonValue& v : QJsonDocument::fromJson(f.readAll()).array()) {
    const QJsonObject o = v.toObject();
    if (o[QStringLiteral("question")].toString() != kHarbor) continue;
    const QString text = o[QStringLiteral("greedy_text")].toString();
    return text.left(text.indexOf(QStringLiteral("<|im_end|>")));
  }
  return {};
}

ConversationTreeData readTree(HistoryService& history, qint64 id) {
  ConversationTreeData out;
  bool done = false;
  QObject ctx;
  history.loadTree(id, &ctx, [&](const ConversationTreeData& t, const ErrorInfo&) {
    out = t;
    done = true;
  });
  (void)QTest::qWaitFor([&] { return done; }, 10000);
  return out;
}

QVariant role(const MessageListModel* m, int row, int role) { return m->data(m->index(row), role); }

}  // namespace

class TestChatController : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { qRegisterMetaType<ErrorInfo>(); }

  void sendStreamsTheReplyAndSavesIt() {
    UiFixture f;
    Testers testers(*f.graph);
    ChatController& chat = f.graph->chat;
    QVERIFY(!chat.canSend());
    QVERIFY(f.loadDemo());
    QVERIFY(chat.canSend());
    chat.setSystemPrompt(kSystem);
    f.usePreset(64);
    const MessageListModel* messages = chat.messages();
    QSignalSpy started(&chat, &ChatController::replyStarted);
    int contentUpdates = 0;
    bool sawStreaming = false;
    connect(messages, &QAbstractItemModel::dataChanged, this, [&](const QModelIndex& i, const QModelIndex&, const QList<int>& roles) {
      if (i.row() != 1 || !roles.contains(MessageListModel::ContentRole)) return;
      ++contentUpdates;
      sawStreaming = sawStreaming || role(messages, 1, MessageListModel::StreamingRole).toBool();
    });

    QVERIFY(chat.send(kHarbor));
    QVERIFY(chat.busy());
    QVERIFY(!chat.canSend());
    QVERIFY(!chat.send(QStringLiteral("again")));  // one reply at a time
    QCOMPARE(messages->rowCount(), 2);            // shown at once, before any write commits
    QCOMPARE(role(messages, 0, MessageListModel::ContentRole).toString(), kHarbor);
    QCOMPARE(role(messages, 1, MessageListModel::StatusRole).toString(), QStringLiteral("streaming"));
    QCOMPARE(f.waitReply(), QStringLiteral("complete"));
    QCOMPARE(started.count(), 1);
    QVERIFY(contentUpdates >= 1);
    QVERIFY(sawStreaming);

    const QString expected = harborReference();
    QVERIFY(!expected.isEmpty());
    QCOMPARE(role(messages, 1, MessageListModel::ContentRole).toString(), expected);
    QCOMPARE(role(messages, 1, MessageListModel::StatusRole).toString(), QStringLiteral("complete"));
    const QString stats = role(messages, 1, MessageListModel::StatsRole).toString();
    QVERIFY2(stats.contains(QStringLiteral("tokens/s")) && stats.contains(QStringLiteral("first token")), qPrintable(stats));
    QCOMPARE(role(messages, 1, MessageListModel::ModelRole).toString(), QStringLiteral("dictlm-16m"));
    QVERIFY(role(messages, 1, MessageListModel::IdRole).toLongLong() > 0);

    // The database holds the same, with the metrics.
    QVERIFY(chat.conversationId() > 0);
    QCOMPARE(chat.title(), kHarbor);
    const ConversationTreeData tree = readTree(f.graph->history, chat.conversationId());
    QCOMPARE(tree.conversation.systemPrompt, kSystem);
    QCOMPARE(tree.path.size(), 2);
    QCOMPARE(tree.path[1].content, expected);
    QCOMPARE(tree.path[1].status, QStringLiteral("complete"));
    QCOMPARE(tree.path[1].metrics.promptTokens, 29);  // transformers' prompt_ids for this prompt
    QVERIFY(tree.path[1].metrics.completionTokens > 1);
    QVERIFY(tree.path[1].metrics.decodeTokensPerSecond > 0);
    QVERIFY(tree.path[1].metrics.timeToFirstTokenMs > 0);

    // The sidebar lists it; the composer's token count covers the conversation.
    QTRY_COMPARE(f.graph->conversations.rowCount(), 1);
    QCOMPARE(f.graph->conversations.data(f.graph->conversations.index(0), ConversationListModel::TitleRole).toString(), kHarbor);
    QTRY_VERIFY(chat.promptTokens() > 29);
    chat.setDraft(QStringLiteral("Define kettle."));
    QTRY_VERIFY(chat.draftTokens() > 0);
    QVERIFY(chat.contextFill() > 0 && chat.contextFill() < 1);
  }

  void stopMidStreamKeepsThePartialReply() {
    UiFixture f;
    Testers testers(*f.graph);
    QVERIFY(f.loadDemo());
    f.usePreset(1500, 1.0);
    f.graph->chat.setStopAtEos(false);
    const MessageListModel* messages = f.graph->chat.messages();
    connect(messages, &QAbstractItemModel::dataChanged, &f.graph->chat, [&](const QModelIndex& i) {
      if (i.row() == 1 && !role(messages, 1, MessageListModel::ContentRole).toString().isEmpty()) f.graph->chat.stop();
    });
    QVERIFY(f.graph->chat.send(QStringLiteral("Define kettle.")));
    QCOMPARE(f.waitReply(), QStringLiteral("interrupted"));
    const QString partial = role(messages, 1, MessageListModel::ContentRole).toString();
    QVERIFY(!partial.isEmpty());
    QCOMPARE(role(messages, 1, MessageListModel::StatusRole).toString(), QStringLiteral("interrupted"));
    const ConversationTreeData tree = readTree(f.graph->history, f.graph->chat.conversationId());
    QCOMPARE(tree.path.value(1).status, QStringLiteral("interrupted"));
    QCOMPARE(tree.path.value(1).content, partial);
    QVERIFY(tree.path.value(1).metrics.completionTokens < 1500);
    QVERIFY(f.graph->chat.canSend());
  }

  void regenerateEditAndContinueMakeBranches() {
    UiFixture f;
    Testers testers(*f.graph);
    ChatController& chat = f.graph->chat;
    const MessageListModel* messages = chat.messages();
    QVERIFY(f.loadDemo());
    f.usePreset(12, 1.0);
    QVERIFY(chat.send(QStringLiteral("Define kettle.")));
    QCOMPARE(f.waitReply(), QStringLiteral("complete"));
    const qint64 firstReply = role(messages, 1, MessageListModel::IdRole).toLongLong();

    // Regenerate: a second version of the reply, shown as 2/2.
    QVERIFY(chat.regenerate());
    QCOMPARE(f.waitReply(), QStringLiteral("complete"));
    QCOMPARE(messages->rowCount(), 2);
    const qint64 secondReply = role(messages, 1, MessageListModel::IdRole).toLongLong();
    QVERIFY(secondReply > 0 && secondReply != firstReply);
    QCOMPARE(role(messages, 1, MessageListModel::SiblingCountRole).toInt(), 2);
    QCOMPARE(role(messages, 1, MessageListModel::SiblingIndexRole).toInt(), 2);
    ConversationTreeData tree = readTree(f.graph->history, chat.conversationId());
    QCOMPARE(tree.path.value(1).siblingIds, (QList<qint64>{firstReply, secondReply}));
    QCOMPARE(tree.path.value(1).id, secondReply);

    // "<" shows the first version again, in the view and in the database's selection.
    QSignalSpy loaded(&chat, &ChatController::conversationLoaded);
    QVERIFY(chat.switchBranch(1, -1));
    QVERIFY(loaded.wait(10000));
    QCOMPARE(role(messages, 1, MessageListModel::IdRole).toLongLong(), firstReply);
    QCOMPARE(role(messages, 1, MessageListModel::SiblingIndexRole).toInt(), 1);
    QVERIFY(!chat.switchBranch(1, -1));
    QCOMPARE(readTree(f.graph->history, chat.conversationId()).path.value(1).id, firstReply);

    // Editing the user message makes a second version of it with its own reply.
    QVERIFY(chat.editMessage(0, QStringLiteral("Define teapot.")));
    QCOMPARE(f.waitReply(), QStringLiteral("complete"));
    QCOMPARE(messages->rowCount(), 2);
    QCOMPARE(role(messages, 0, MessageListModel::ContentRole).toString(), QStringLiteral("Define teapot."));
    QCOMPARE(role(messages, 0, MessageListModel::SiblingCountRole).toInt(), 2);
    QCOMPARE(role(messages, 1, MessageListModel::SiblingCountRole).toInt(), 1);
    tree = readTree(f.graph->history, chat.conversationId());
    QCOMPARE(tree.path.value(0).content, QStringLiteral("Define teapot."));
    QCOMPARE(tree.path.value(0).siblingIds.size(), 2);

    // Continue: a reply cut at max tokens goes on from where it stopped, as a new version.
    f.graph->chat.setStopAtEos(false);
    QVERIFY(chat.regenerate());
    QCOMPARE(f.waitReply(), QStringLiteral("complete"));
    const QString cut = role(messages, 1, MessageListModel::ContentRole).toString();
    QVERIFY(chat.continueMessage());
    QCOMPARE(f.waitReply(), QStringLiteral("complete"));
    const QString continued = role(messages, 1, MessageListModel::ContentRole).toString();
    QVERIFY2(continued.startsWith(cut) && continued.size() > cut.size(), qPrintable(cut + QStringLiteral(" | ") + continued));
    tree = readTree(f.graph->history, chat.conversationId());
    QCOMPARE(tree.path.value(1).content, continued);
  }

  // Quitting while a reply streams (the graph torn down as at exit) leaves it `interrupted` in
  // the database by itself: the next open does not have to recover it.
  void quitDuringGenerationLeavesTheReplyInterrupted() {
    UiFixture f;
    QVERIFY(f.loadDemo());
    f.usePreset(1500, 1.0);
    f.graph->chat.setStopAtEos(false);
    QVERIFY(f.graph->chat.send(QStringLiteral("Define kettle.")));
    const MessageListModel* messages = f.graph->chat.messages();
    QVERIFY(QTest::qWaitFor([&] { return !role(messages, 1, MessageListModel::ContentRole).toString().isEmpty() &&
                                         role(messages, 1, MessageListModel::IdRole).toLongLong() > 0; }, 60000));
    QVERIFY(f.graph->chat.busy());
    const qint64 conversation = f.graph->chat.conversationId();
    f.close();

    HistoryService::Options noRecovery;
    noRecovery.recoverInterrupted = false;
    HistoryService history(f.dir.filePath(QStringLiteral("history.db")), noRecovery);
    const ConversationTreeData tree = readTree(history, conversation);
    QCOMPARE(tree.path.size(), 2);
    QCOMPARE(tree.path[1].status, QStringLiteral("interrupted"));
    QVERIFY(!tree.path[1].content.isEmpty());
  }

  void sidebarSearchRenamePinTrashAndUndo() {
    UiFixture f;
    Testers testers(*f.graph);
    ConversationListModel& list = f.graph->conversations;
    QVERIFY(f.loadDemo());
    f.usePreset(8);
    QVERIFY(f.graph->chat.send(QStringLiteral("What is a lexicon?")));
    QCOMPARE(f.waitReply(), QStringLiteral("complete"));
    f.graph->chat.newChat();
    QCOMPARE(f.graph->chat.messages()->rowCount(), 0);
    QVERIFY(f.graph->chat.send(QStringLiteral("Define harbour.")));
    QCOMPARE(f.waitReply(), QStringLiteral("complete"));
    QTRY_COMPARE(list.rowCount(), 2);
    const qint64 lexicon = list.data(list.index(1), ConversationListModel::IdRole).toLongLong();
    QCOMPARE(list.data(list.index(1), ConversationListModel::TitleRole).toString(), QStringLiteral("What is a lexicon?"));

    QSignalSpy refreshed(&list, &ConversationListModel::refreshed);
    list.setSearchText(QStringLiteral("lexic"));
    QVERIFY(refreshed.wait(5000));
    QCOMPARE(list.rowCount(), 1);
    QCOMPARE(list.data(list.index(0), ConversationListModel::IdRole).toLongLong(), lexicon);
    QVERIFY(list.data(list.index(0), ConversationListModel::SnippetRole).toString().contains(QStringLiteral("<b>")));
    list.setSearchText(QStringLiteral("zebra"));
    QVERIFY(refreshed.wait(5000));
    QCOMPARE(list.rowCount(), 0);
    list.setSearchText({});
    QVERIFY(refreshed.wait(5000));
    QCOMPARE(list.rowCount(), 2);

    list.rename(lexicon, QStringLiteral("  Words   about words "));
    QTRY_COMPARE(list.data(list.index(list.rowOf(lexicon)), ConversationListModel::TitleRole).toString(), QStringLiteral("Words about words"));
    list.setPinned(lexicon, true);
    QTRY_COMPARE(list.rowOf(lexicon), 0);  // pinned first
    QVERIFY(list.data(list.index(0), ConversationListModel::PinnedRole).toBool());

    f.graph->chat.openConversation(lexicon);
    QTRY_COMPARE(f.graph->chat.messages()->rowCount(), 2);
    QCOMPARE(f.graph->chat.title(), QStringLiteral("Words about words"));

    list.moveToTrash(lexicon);
    QVERIFY(list.undoAvailable());
    QCOMPARE(list.undoTitle(), QStringLiteral("Words about words"));
    QTRY_COMPARE(list.rowCount(), 1);
    list.undo();
    QVERIFY(!list.undoAvailable());
    QTRY_COMPARE(list.rowCount(), 2);
  }

  void libraryRemembersLoadedAndScannedModels() {
    UiFixture f;
    Testers testers(*f.graph);
    ModelLibraryModel& library = f.graph->library;
    f.graph->refreshViews();
    QVERIFY(f.loadDemo());
    QTRY_COMPARE(library.rowCount(), 1);
    QCOMPARE(library.data(library.index(0), ModelLibraryModel::NameRole).toString(), QStringLiteral("dictlm-16m"));
    QVERIFY(library.data(library.index(0), ModelLibraryModel::LastUsedRole).toLongLong() > 0);

    QTemporaryDir roots;
    QDir().mkpath(roots.filePath(QStringLiteral("a/b")));
    for (const QString& name : QDir(kDemoModel).entryList(QDir::Files))
      QVERIFY(QFile::copy(kDemoModel + QLatin1Char('/') + name, roots.filePath(QStringLiteral("a/b/") + name)));
    QDir().mkpath(roots.filePath(QStringLiteral("junk")));
    QFile junk(roots.filePath(QStringLiteral("junk/config.json")));
    QVERIFY(junk.open(QIODevice::WriteOnly));
    junk.write("{");
    junk.close();
    f.graph->settings.addModelRoot(roots.path());
    QSignalSpy scanning(&library, &ModelLibraryModel::scanningChanged);
    library.rescan();
    QVERIFY(library.scanning());
    QTRY_VERIFY_WITH_TIMEOUT(!library.scanning(), 30000);
    QTRY_COMPARE(library.rowCount(), 2);
    QCOMPARE(library.scanFailures().size(), 1);
    QVERIFY(library.scanFailures().first().contains(QStringLiteral("junk")));
    const int found = library.data(library.index(0), ModelLibraryModel::LastUsedRole).toLongLong() > 0 ? 1 : 0;
    QCOMPARE(library.data(library.index(found), ModelLibraryModel::PathRole).toString(), QDir(roots.filePath(QStringLiteral("a/b"))).absolutePath());
    library.remove(library.data(library.index(found), ModelLibraryModel::IdRole).toLongLong());
    QTRY_COMPARE(library.rowCount(), 1);
  }

  void presetsAreSavedInSettings() {
    UiFixture f;
    Testers testers(*f.graph);
    PresetModel& presets = f.graph->presets;
    const int builtIn = presets.rowCount();
    QVERIFY(builtIn >= 3);
    QVERIFY(!presets.save(QStringLiteral("balanced"), {{QStringLiteral("temperature"), 2.0}}));  // built in
    QVERIFY(presets.save(QStringLiteral("Mine"), {{QStringLiteral("temperature"), 9.0}, {QStringLiteral("topK"), 20}}));
    QCOMPARE(presets.rowCount(), builtIn + 1);
    QCOMPARE(presets.sampling(QStringLiteral("Mine")).temperature, 5.0);  // clamped
    QCOMPARE(presets.sampling(QStringLiteral("Mine")).topK, 20);
    QCOMPARE(presets.sampling(QStringLiteral("no such")).temperature, presets.sampling(PresetModel::defaultPresetName()).temperature);
    f.graph->settings.sync();
    PresetModel again(&f.graph->settings);
    QCOMPARE(again.rowCount(), builtIn + 1);
    QCOMPARE(again.sampling(QStringLiteral("Mine")).topK, 20);
    QVERIFY(presets.remove(QStringLiteral("Mine")));
    QVERIFY(!presets.remove(QStringLiteral("Precise")));
    QCOMPARE(presets.rowCount(), builtIn);

    // A conversation remembers its preset.
    QVERIFY(f.loadDemo());
    f.graph->chat.setPresetName(QStringLiteral("Precise"));
    f.graph->presets.save(QStringLiteral("Short"), {{QStringLiteral("maxTokens"), 4}});
    f.graph->chat.setPresetName(QStringLiteral("Short"));
    QVERIFY(f.graph->chat.send(QStringLiteral("Define kettle.")));
    QCOMPARE(f.waitReply(), QStringLiteral("complete"));
    const qint64 id = f.graph->chat.conversationId();
    f.graph->chat.newChat();
    QCOMPARE(f.graph->chat.presetName(), PresetModel::defaultPresetName());
    QSignalSpy loaded(&f.graph->chat, &ChatController::conversationLoaded);
    f.graph->chat.openConversation(id);
    QVERIFY(loaded.wait(5000));
    QCOMPARE(f.graph->chat.presetName(), QStringLiteral("Short"));
    const ConversationTreeData tree = readTree(f.graph->history, id);
    QVERIFY(tree.path.value(1).metrics.completionTokens <= 4);
  }

  // Streamed text with <think> sections and code fences becomes the blocks the view shows.
  void messageRowsSplitReasoningAndCode() {
    MessageListModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    MessageData m;
    m.id = -1;
    m.role = QStringLiteral("assistant");
    m.status = QStringLiteral("streaming");
    m.siblingIds = {-1};
    model.append(m);
    model.appendText(-1, QStringLiteral("<think>The user wants"), {});
    QCOMPARE(role(&model, 0, MessageListModel::ThinkingRole).toBool(), true);
    QCOMPARE(role(&model, 0, MessageListModel::ReasoningRole).toString(), QStringLiteral("The user wants"));
    QCOMPARE(role(&model, 0, MessageListModel::BlockCountRole).toInt(), 0);
    model.appendText(-1, QStringLiteral(" code.</think>Here:\n\n```python\nprint(1)\n"), {});
    QCOMPARE(role(&model, 0, MessageListModel::ThinkingRole).toBool(), false);
    QVariantList blocks = role(&model, 0, MessageListModel::BlocksRole).toList();
    QCOMPARE(blocks.size(), 2);
    QCOMPARE(blocks[0].toMap().value(QStringLiteral("text")).toString(), QStringLiteral("Here:"));
    QCOMPARE(blocks[1].toMap().value(QStringLiteral("kind")).toString(), QStringLiteral("code"));
    QCOMPARE(blocks[1].toMap().value(QStringLiteral("open")).toBool(), true);
    model.appendText(-1, QStringLiteral("```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"), {});
    blocks = role(&model, 0, MessageListModel::BlocksRole).toList();
    QCOMPARE(blocks.size(), 3);
    QCOMPARE(blocks[1].toMap().value(QStringLiteral("text")).toString(), QStringLiteral("print(1)"));
    QCOMPARE(blocks[1].toMap().value(QStringLiteral("language")).toString(), QStringLiteral("python"));
    QCOMPARE(blocks[1].toMap().value(QStringLiteral("open")).toBool(), false);
    QVERIFY(blocks[2].toMap().value(QStringLiteral("text")).toString().startsWith(QStringLiteral("| a | b |")));
    model.assignId(-1, 7);
    QCOMPARE(model.rowOf(7), 0);
    QCOMPARE(role(&model, 0, MessageListModel::SiblingIndexRole).toInt(), 1);
    MessageMetrics metrics;
    metrics.completionTokens = 3;
    model.finish(7, QStringLiteral("complete"), {}, metrics);
    QCOMPARE(role(&model, 0, MessageListModel::StatsRole).toString(), QStringLiteral("3 tokens"));

    // setMessages keeps the common prefix and replaces the rest.
    MessageData user;
    user.id = 1;
    user.role = QStringLiteral("user");
    user.content = QStringLiteral("q");
    model.setMessages({user});
    QCOMPARE(model.rowCount(), 1);
    QList<MessageData> two{user, m};
    two[1].id = 9;
    two[1].content = QStringLiteral("a ~~~ b");
    model.setMessages(two);
    QCOMPARE(model.rowCount(), 2);
    QCOMPARE(model.turns().size(), 2);
    model.truncateAfter(0);
    QCOMPARE(model.rowCount(), 1);
    model.clear();
    QCOMPARE(model.rowCount(), 0);
  }

  void fencesFollowCommonMark() {
    const QList<MessageBlock> b = splitMessageBlocks(QStringLiteral("a\n~~~~ js\nx\n~~~\n```\ny\n~~~~\nz"));
    // The ~~~ line is shorter than the opening fence, so the block runs on to ~~~~.
    QCOMPARE(b.size(), 3);
    QCOMPARE(b[2].text, QStringLiteral("z"));
    QCOMPARE(b[1].kind, MessageBlock::Code);
    QCOMPARE(b[1].language, QStringLiteral("js"));
    QCOMPARE(b[1].text, QStringLiteral("x\n~~~\n```\ny"));
    QCOMPARE(splitMessageBlocks(QStringLiteral("    ```\nindented code is text")).size(), 1);
    QCOMPARE(splitMessageBlocks(QStringLiteral("``` a`b\nnot a fence")).first().kind, MessageBlock::Text);
  }
};

QTEST_MAIN(TestChatController)
#include "test_chat_controller.moc"
