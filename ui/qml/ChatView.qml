// The chat: a header with the conversation's title and settings, notices, the message list
// (or the empty state) and the composer. Data from `chat` (ChatController) and `engine`.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import Nibble.Bridge

Pane {
    id: view
    property var chat: null
    property var engine: null
    property var presets: null
    property var theme: null
    signal openModelRequested()
    padding: 0

    readonly property bool modelReady: engine ? engine.modelState === EngineController.Loaded : false
    readonly property int messageCount: chat ? chat.messages.count : 0

    function focusComposer() { composer.focusInput() }

    background: Rectangle { color: palette.base }

    ColumnLayout {
        anchors.fill: parent
        spacing: 0

        ChatHeader {
            Layout.fillWidth: true
            chat: view.chat
            presets: view.presets
        }

        NoticeBar {
            Layout.fillWidth: true
            visible: view.chat ? view.chat.notice.length > 0 : false
            text: view.chat ? view.chat.notice : ""
            onDismissed: view.chat.clearNotice()
        }

        Item {
            Layout.fillWidth: true
            Layout.fillHeight: true

            MessageList {
                id: messageList
                objectName: "messageList"
                anchors.fill: parent
                visible: view.messageCount > 0
                chat: view.chat
                theme: view.theme
            }

            EmptyState {
                objectName: "emptyState"
                anchors.fill: parent
                visible: view.messageCount === 0
                engine: view.engine
                onOpenModelRequested: view.openModelRequested()
            }
        }

        Composer {
            id: composer
            Layout.fillWidth: true
            chat: view.chat
            modelReady: view.modelReady
        }
    }
}
