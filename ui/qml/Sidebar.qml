// The conversation sidebar: New chat, a search box over the history's full-text index, the list
// (pinned first, grouped by day) and the undo bar after a move to the trash.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

Pane {
    id: sidebar
    property var conversations: null
    property var chat: null
    signal conversationChosen(var id)
    padding: 8

    function focusSearch() { search.forceActiveFocus(); search.selectAll() }

    background: Rectangle {
        color: palette.alternateBase
        Rectangle { anchors.right: parent.right; width: 1; height: parent.height; color: palette.mid }
    }

    ColumnLayout {
        anchors.fill: parent
        spacing: 8

        Button {
            Layout.fillWidth: true
            text: qsTr("New chat")
            Accessible.name: qsTr("New chat")
            ToolTip.visible: hovered
            ToolTip.text: qsTr("Start a new conversation (Ctrl+N)")
            onClicked: { sidebar.chat.newChat(); sidebar.conversationChosen(0) }
        }

        TextField {
            id: search
            Layout.fillWidth: true
            placeholderText: qsTr("Search chats (Ctrl+K)")
            Accessible.name: qsTr("Search conversations")
            selectByMouse: true
            onTextChanged: if (sidebar.conversations) sidebar.conversations.searchText = text
            Keys.onEscapePressed: text = ""
        }

        ListView {
            id: list
            Layout.fillWidth: true
            Layout.fillHeight: true
            clip: true
            model: sidebar.conversations
            spacing: 2
            Accessible.role: Accessible.List
            Accessible.name: qsTr("Conversations")
            ScrollBar.vertical: ScrollBar { Accessible.name: qsTr("Scroll conversations") }
            section.property: "section"
            section.delegate: Label {
                required property string section
                text: section
                font.bold: true
                font.pointSize: Qt.application.font.pointSize * 0.85
                opacity: 0.75
                topPadding: 8
                bottomPadding: 2
                Accessible.name: section
            }
            delegate: ConversationDelegate {
                width: list.width
                current: sidebar.chat ? conversationId === sidebar.chat.conversationId : false
                onChosen: { sidebar.chat.openConversation(conversationId); sidebar.conversationChosen(conversationId) }
                onRenameRequested: { renameDialog.conversationId = conversationId; renameDialog.currentTitle = title; renameDialog.open() }
                onPinToggled: sidebar.conversations.setPinned(conversationId, !pinned)
                onTrashRequested: {
                    if (sidebar.chat.conversationId === conversationId) sidebar.chat.newChat()
                    sidebar.conversations.moveToTrash(conversationId)
                }
            }

            Label {
                anchors.centerIn: parent
                width: parent.width - 16
                visible: list.count === 0
                horizontalAlignment: Text.AlignHCenter
                wrapMode: Text.Wrap
                opacity: 0.7
                text: sidebar.conversations && sidebar.conversations.searching ? qsTr("No conversation matches.")
                                                                                : qsTr("Your conversations will appear here.")
                Accessible.name: text
            }
        }

        UndoBar {
            Layout.fillWidth: true
            visible: sidebar.conversations ? sidebar.conversations.undoAvailable : false
            text: sidebar.conversations ? qsTr("“%1” moved to the trash").arg(sidebar.conversations.undoTitle) : ""
            onUndo: sidebar.conversations.undo()
            onDismissed: sidebar.conversations.dismissUndo()
        }
    }

    RenameDialog {
        id: renameDialog
        onRenamed: (id, title) => sidebar.conversations.rename(id, title)
    }
}
